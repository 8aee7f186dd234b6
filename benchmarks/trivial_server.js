// The cheapest HTTP target we have: every path answers 200 "ok" at once, on Node's one JS thread.
// benchmarks/generator_efficiency.py measures load generators against it, where the target costs
// as little as it can and the generator is what is measured. GET /__served answers how many other
// requests it has served (not counting itself): the benchmark reads it to count each generator's
// requests over the windows it ran in.
const http = require("http");
const port = Number(process.argv[2] || 8000);
let served = 0;
http
  .createServer((req, res) => {
    if (req.url === "/__served") {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end(String(served));
      return;
    }
    served += 1;
    res.writeHead(200, { "Content-Type": "text/plain", "Content-Length": 2 });
    res.end("ok");
  })
  .listen(port, "127.0.0.1");
