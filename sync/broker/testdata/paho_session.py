# python3-paho-mqtt (Debian, paho 1.6 API) against the broker, MQTT 5:
# will delay and session expiry as a real client sees them.
# Usage: python3 paho_session.py MODE HOST PORT
#   will:    a client with a will (Will Delay Interval 3 s, Session Expiry
#            60 s) loses its connection without DISCONNECT; a subscriber
#            must get the will, and not before the delay (whole seconds).
#   will-session-ends: Will Delay 3600 s but Session Expiry 0: the session
#            ends at the drop, so the will is sent then.
#   session: a persistent session (Session Expiry 60 s) subscribes, leaves;
#            five QoS 1 messages are published while it is away; on
#            reconnect the session is present and they arrive in order.
#   short-session: a session with Session Expiry 1 s subscribes and leaves.
#   expired: reconnects as short-session's client: the session must be gone.
# Prints what it saw; exits 0 on success, 1 with the reason.
import socket, sys, threading, time
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes

mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
GUARD = 60

def fail(why):
    print("FAIL", why, flush=True)
    sys.exit(1)

def client(cid):
    return mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5)

def connect(c, expiry=None, clean=True):
    props = Properties(PacketTypes.CONNECT)
    if expiry is not None:
        props.SessionExpiryInterval = expiry
    got = {}
    ev = threading.Event()
    def on_connect(cl, u, flags, rc, p=None):
        got["present"] = flags.get("session present")
        got["rc"] = rc
        ev.set()
    c.on_connect = on_connect
    c.connect(host, port, keepalive=30, clean_start=clean, properties=props)
    c.loop_start()
    if not ev.wait(GUARD):
        fail("no CONNACK")
    if got["rc"] != 0:
        fail("CONNACK %s" % got["rc"])
    return got["present"]

def subscribe(c, topic):
    ev = threading.Event()
    c.on_subscribe = lambda *a: ev.set()
    c.subscribe(topic, qos=1)
    if not ev.wait(GUARD):
        fail("no SUBACK")

def drop(c):
    # Lose the connection the way a sensor losing power does: no DISCONNECT.
    c.loop_stop()
    c.socket().shutdown(socket.SHUT_RDWR)
    c.socket().close()

def wait_will(delay, expiry):
    sub = client("will-watcher")
    got = []
    ev = threading.Event()
    def on_message(cl, u, m):
        got.append((time.monotonic(), m.topic, m.payload.decode()))
        ev.set()
    sub.on_message = on_message
    connect(sub)
    subscribe(sub, "wills/#")
    a = client("will-" + mode)
    props = Properties(PacketTypes.WILLMESSAGE)
    props.WillDelayInterval = delay
    a.will_set("wills/" + mode, "gone", qos=1, retain=False, properties=props)
    connect(a, expiry=expiry, clean=True)
    dropped = time.monotonic()
    drop(a)
    if not ev.wait(GUARD):
        fail("no will within %d s" % GUARD)
    at, topic, payload = got[0]
    print("will", topic, payload, "after %.1f s" % (at - dropped), flush=True)
    if topic != "wills/" + mode or payload != "gone":
        fail("wrong will %s %s" % (topic, payload))
    return at - dropped

if mode == "will":
    took = wait_will(3, 60)
    # The broker counts the delay in whole seconds: never under delay - 1.
    if took < 2:
        fail("will sent after %.1f s, before its 3 s delay" % took)
elif mode == "will-session-ends":
    wait_will(3600, 0)
elif mode == "session":
    c = client("away")
    connect(c, expiry=60, clean=True)
    subscribe(c, "cmd/away")
    c.disconnect()
    c.loop_stop()
    p = client("commander")
    connect(p)
    for i in range(5):
        info = p.publish("cmd/away", "off%d" % i, qos=1)
        info.wait_for_publish(GUARD)
        if not info.is_published():
            fail("publish %d not acknowledged" % i)
    got = []
    ev = threading.Event()
    def on_message(cl, u, m):
        got.append(m.payload.decode())
        if len(got) == 5:
            ev.set()
    c = client("away")
    c.on_message = on_message
    present = connect(c, expiry=60, clean=False)
    if not present:
        fail("session not present on reconnect")
    if not ev.wait(GUARD):
        fail("got only %s" % got)
    print("session present; got", ",".join(got), flush=True)
    if got != ["off%d" % i for i in range(5)]:
        fail("out of order: %s" % got)
elif mode == "short-session":
    c = client("short")
    connect(c, expiry=1, clean=True)
    subscribe(c, "cmd/short")
    c.disconnect()
    c.loop_stop()
    print("left with a 1 s session", flush=True)
elif mode == "expired":
    c = client("short")
    present = connect(c, expiry=1, clean=False)
    print("session present:", bool(present), flush=True)
    if present:
        fail("the expired session was still present")
    c.disconnect()
    c.loop_stop()
else:
    fail("unknown mode " + mode)
