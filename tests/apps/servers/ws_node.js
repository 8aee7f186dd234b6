// A WebSocket echo server on Node's `ws` (Debian's node-ws): `NODE_PATH=/usr/share/nodejs node ws_node.js PORT`.
const { WebSocketServer } = require('ws');
const port = parseInt(process.argv[2], 10);
const wss = new WebSocketServer({ host: '127.0.0.1', port, backlog: 4096 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});
