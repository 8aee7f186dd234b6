// A Node.js HTTP server (not Python): /predict burns ~4 ms of CPU on the single JS thread.
const http = require("http");
const port = Number(process.argv[2] || 8000);

function burn(ms) {
  const end = process.hrtime.bigint() + BigInt(ms * 1e6);
  let acc = 0;
  while (process.hrtime.bigint() < end) acc += Math.sqrt(acc + 1);
  return acc;
}

http
  .createServer((req, res) => {
    if (req.url === "/predict") {
      const body = String(burn(4));
      res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": Buffer.byteLength(body) });
      res.end(body);
    } else {
      res.writeHead(404, { "Content-Length": 0 });
      res.end();
    }
  })
  .listen(port, "127.0.0.1");
