// Talks to a kaos-ws echo server with the npm `ws` client; exits non-zero on any mismatch.
import WebSocket from 'ws';

const url = process.argv[2];
// `deflate`: offer permessage-deflate (zlib under node) and compress every message.
const deflate = process.argv[3] === 'deflate';
const fail = (why) => {
  console.error(`FAIL: ${why}`);
  process.exit(1);
};
setTimeout(() => fail('timed out'), 15000).unref();

const ws = new WebSocket(url, { perMessageDeflate: deflate ? { threshold: 0 } : false });
const expected = [];
let received = 0;
let ponged = false;

ws.on('error', (e) => fail(`socket error: ${e.message}`));
ws.on('open', () => {
  const negotiated = ws.extensions.includes('permessage-deflate');
  if (negotiated !== deflate) fail(`permessage-deflate negotiated: ${negotiated} (${ws.extensions})`);
  for (let i = 0; i < 100; i++) {
    const text = `message ${i} ✓`;
    expected.push({ text });
    ws.send(text);
    const bin = Buffer.alloc(1 + i * 300, i);
    expected.push({ bin });
    ws.send(bin);
  }
  ws.ping(Buffer.from('ping?'));
});
ws.on('pong', (data) => {
  if (data.toString() !== 'ping?') fail(`pong carried ${data}`);
  ponged = true;
});
ws.on('message', (data, isBinary) => {
  const want = expected[received++];
  if (want.text !== undefined) {
    if (isBinary || data.toString() !== want.text) fail(`message ${received}: wanted text ${want.text}`);
  } else if (!isBinary || !Buffer.from(data).equals(want.bin)) {
    fail(`message ${received}: wanted ${want.bin.length} binary bytes`);
  }
  if (received === expected.length) ws.close(4000, 'done');
});
ws.on('close', (code, reason) => {
  if (code !== 4000 || reason.toString() !== 'done') fail(`closed with ${code} ${reason}`);
  if (!ponged) fail('no pong');
  if (received !== 200) fail(`got ${received} of 200`);
  console.log(`ok ${received}${deflate ? ' deflate' : ''}`);
  process.exit(0);
});
