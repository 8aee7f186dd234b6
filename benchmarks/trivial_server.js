// The cheapest HTTP target we have: every path answers 200 "ok" at once, on Node's one JS thread.
// benchmarks/generator_efficiency.py measures load generators against it, where the target costs
// as little as it can and the generator is what is measured.
const http = require("http");
const port = Number(process.argv[2] || 8000);
http
  .createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": 2 });
    res.end("ok");
  })
  .listen(port, "127.0.0.1");
