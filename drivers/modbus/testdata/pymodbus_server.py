#!/usr/bin/python3
"""A Modbus slave for edged's tests, on Debian's python3-pymodbus (3.0).

    pymodbus_server.py tcp [--port N] [--units 1,2] [--sparse 2]
    pymodbus_server.py rtuovertcp [--port N] [--units 1,2]
    pymodbus_server.py rtu /dev/pts/N [--baud 19200] [--units 1,2,3]

It serves each unit a datastore of 1000 coils, discrete inputs, holding
and input registers at addresses 0..999 (anything beyond answers exception
0x02; a --sparse unit has holding registers only at 0..99 and 200..299),
prints "ready port=<port>" (tcp, bound to 127.0.0.1 on a free port)
or "ready" (rtu) when it serves, then takes commands on stdin, one a line,
and answers each with one line:

    set <unit> <hr|ir|co|di> <addr> <v> [<v>...]   -> ok
    get <unit> <hr|ir|co|di> <addr> <n>            -> values <v> ...
    count <unit>                                   -> count <requests answered for unit>
    mute <unit> / unmute <unit>                    -> ok   (a muted unit never answers)
"""
import argparse
import asyncio
import sys
import threading

from pymodbus.datastore import ModbusSequentialDataBlock, ModbusSparseDataBlock, ModbusServerContext, ModbusSlaveContext
from pymodbus.framer.rtu_framer import ModbusRtuFramer
from pymodbus.framer.socket_framer import ModbusSocketFramer
from pymodbus.server.async_io import ModbusSerialServer, ModbusTcpServer

SIZE = 1000


def slave(sparse=False):
    block = lambda: ModbusSequentialDataBlock(0, [0] * SIZE)
    hr = block()
    if sparse:
        hr = ModbusSparseDataBlock({a: 0 for a in list(range(0, 100)) + list(range(200, 300))})
    return ModbusSlaveContext(di=block(), co=block(), hr=hr, ir=block(), zero_mode=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["tcp", "rtuovertcp", "rtu"])
    ap.add_argument("port", nargs="?", default="")
    ap.add_argument("--port", dest="port")
    ap.add_argument("--baud", type=int, default=19200)
    ap.add_argument("--units", default="1")
    ap.add_argument("--sparse", default="")
    args = ap.parse_args()

    sparse = {int(u) for u in args.sparse.split(",") if u}
    units = {int(u): slave(int(u) in sparse) for u in args.units.split(",")}
    muted = {}
    context = ModbusServerContext(slaves=dict(units), single=False)
    counts = {u: 0 for u in units}
    lock = threading.Lock()

    def count(response):
        with lock:
            counts[response.unit_id] = counts.get(response.unit_id, 0) + 1
        return response, False

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    if args.mode in ("tcp", "rtuovertcp"):
        framer = ModbusSocketFramer if args.mode == "tcp" else ModbusRtuFramer
        server = ModbusTcpServer(context, framer=framer, address=("127.0.0.1", 0),
                                 ignore_missing_slaves=True, response_manipulator=count, loop=loop,
                                 allow_reuse_address=True, defer_start=False)
    else:
        server = ModbusSerialServer(context, framer=ModbusRtuFramer, port=args.port, baudrate=args.baud,
                                    stopbits=2, parity="N", bytesize=8, timeout=0.05,
                                    ignore_missing_slaves=True, response_manipulator=count, loop=loop)

    def command(line):
        f = line.split()
        if not f:
            return "error empty"
        op = f[0]
        if op == "count":
            with lock:
                return "count %d" % counts.get(int(f[1]), 0)
        if op in ("mute", "unmute"):
            u = int(f[1])
            if op == "mute" and u in context:
                muted[u] = context[u]
                del context[u]
            elif op == "unmute" and u in muted:
                context[u] = muted.pop(u)
            return "ok"
        u, table, addr = int(f[1]), f[2], int(f[3])
        store = (units[u]).store[{"hr": "h", "ir": "i", "co": "c", "di": "d"}[table]]
        if op == "set":
            store.setValues(addr, [int(v, 0) for v in f[4:]])
            return "ok"
        if op == "get":
            return "values " + " ".join(str(int(v)) for v in store.getValues(addr, int(f[4])))
        return "error unknown command " + op

    def stdin():
        for line in sys.stdin:
            try:
                out = command(line)
            except Exception as exc:  # the test sees the error
                out = "error %s" % exc
            print(out, flush=True)
        loop.call_soon_threadsafe(loop.stop)

    async def start():
        if args.mode != "rtu":
            server.server = await loop.create_server(lambda: server.handler(server), "127.0.0.1", int(args.port or 0),
                                                     reuse_address=True, start_serving=True)
            port = server.server.sockets[0].getsockname()[1]
            print("ready port=%d" % port, flush=True)
        else:
            await server.start()
            for _ in range(100):
                if server.transport is not None:
                    break
                await asyncio.sleep(0.02)
            print("ready", flush=True)
        threading.Thread(target=stdin, daemon=True).start()

    loop.run_until_complete(start())
    loop.run_forever()


if __name__ == "__main__":
    main()
