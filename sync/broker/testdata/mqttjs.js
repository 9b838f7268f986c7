// MQTT.js (npm mqtt) against the broker: QoS 1 publishes with user
// properties, the later ones by topic alias; the subscriber must get all
// three with their properties. Exits 0 on success, 1 with the reason.
// Usage: node mqttjs.js HOST PORT
const mqtt = require('mqtt');
const [host, port] = process.argv.slice(2);
const url = `mqtt://${host}:${port}`;
const fail = (why) => { console.log('FAIL', String(why)); process.exit(1); };
setTimeout(() => fail('timed out'), 30000);

const sub = mqtt.connect(url, { protocolVersion: 5, clientId: 'js-sub', reconnectPeriod: 0 });
sub.on('error', fail);
const got = [];
sub.on('message', (topic, payload, packet) => {
  const user = (packet.properties && packet.properties.userProperties) || {};
  got.push(`${topic}=${payload} unit=${user.unit}`);
  if (got.length === 3) {
    console.log('got', got.join(', '));
    process.exit(got.every((g) => g.startsWith('sensors/porch/t=') && g.endsWith('unit=C')) ? 0 : 1);
  }
});
sub.on('connect', () => {
  sub.subscribe('sensors/#', { qos: 1 }, (err) => {
    if (err) fail(err);
    const pub = mqtt.connect(url, { protocolVersion: 5, clientId: 'js-pub', reconnectPeriod: 0, autoUseTopicAlias: true });
    pub.on('error', fail);
    pub.on('close', () => { if (got.length < 3) fail('publisher connection closed'); });
    pub.on('connect', (connack) => {
      const p = connack.properties || {};
      console.log('connack', JSON.stringify(p));
      if (!p.topicAliasMaximum || !p.maximumPacketSize || p.serverKeepAlive === undefined) fail('CONNACK lacks limits');
      let i = 0;
      const next = (err) => {
        if (err) fail(err);
        if (i === 3) return;
        i++;
        pub.publish('sensors/porch/t', String(20 + i), { qos: 1, properties: { userProperties: { unit: 'C' } } }, next);
      };
      next();
    });
  });
});
