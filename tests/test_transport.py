"""Our own requests go out as Locust's request() would send them, and come back recorded the same way
(profiler/load/transport.py sends on the session's user agent without Locust's statistics wrapper).

The real worker in a subprocess (it imports Locust, so gevent), against a gevent server on 127.0.0.1
that keeps the raw bytes of every request it is sent."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

from profiler.runfolder.names import REQUESTS

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, socket, sys
from pathlib import Path
from profiler.load.generator import Worker  # imports Locust (gevent) first
from gevent.server import StreamServer
from locust.contrib.fasthttp import FastHttpSession
from locust.event import EventHook
from profiler.load.plan import StagePlan
from profiler.load.spec import LoadSpec

seen = []
def answer(sock, _address):
    data = b""
    while b"\\r\\n\\r\\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\\r\\n\\r\\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\\r\\n") if line.lower().startswith(b"content-length")), 0)
    while len(body) < length:
        body += sock.recv(65536)
    seen.append((head + b"\\r\\n\\r\\n" + body).decode("latin-1"))
    if b" /fail" in head.split(b"\\r\\n")[0]:
        sock.sendall(b"HTTP/1.1 500 Internal Server Error\\r\\nContent-Length: 4\\r\\nConnection: close\\r\\n\\r\\noops")
    else:
        sock.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\nConnection: close\\r\\n\\r\\nok")
    sock.close()
server = StreamServer(("127.0.0.1", 0), answer)
server.start()
closed = socket.socket(); closed.bind(("127.0.0.1", 0)); dead_port = closed.getsockname()[1]; closed.close()

def worker(url, out):
    spec = LoadSpec(url=url, method="POST", headers={"X-Trace": "t-1"}, body_b64="eyJhIjogMX0=", timeout_s=5,
                    plan=[StagePlan(0, 1, None, 1.0)], out_dir=Path(out), probe_path=None, probe_rate=1.0,
                    early_stop=False, max_requests=100, max_inflight=10, profile_s=None)
    return Worker(spec)

ours = worker(f"http://user:pw@127.0.0.1:{server.server_port}/predict?q=1", sys.argv[1])
locusts = FastHttpSession(base_url=ours.base, request_event=EventHook(), user=None, max_retries=0)
locusts.request("POST", ours.path, data=ours.body, headers=ours.headers)  # as the worker sent it before
client = ours.new_session(concurrency=1)
ours.fire(client, ours.path, "main")
ours.fire(client, "/fail", "probe")
ours.log.close()
refused = worker(f"http://127.0.0.1:{dead_port}/", sys.argv[2])
refused.fire(refused.new_session(concurrency=1), refused.path, "main")
refused.log.close()
print(json.dumps(seen))
"""


def _rows(folder: Path) -> list[dict[str, str]]:
    with (folder / REQUESTS).open(newline="") as fh:
        return list(csv.DictReader(fh))


def _request(raw: str) -> tuple[str, list[str], str]:
    head, _, body = raw.partition("\r\n\r\n")
    line, *headers = head.split("\r\n")
    return line, sorted(h.lower() for h in headers), body


def test_our_requests_are_sent_and_recorded_as_locust_sends_them(tmp_path: Path) -> None:
    """The same request line, headers (the user's, the URL's credentials as Basic auth, Locust's
    Accept-Encoding) and body as Locust's own request(); a 500 recorded with its status and body;
    a refused connection recorded as the error it was."""
    ok_dir, refused_dir = tmp_path / "ok", tmp_path / "refused"
    ok_dir.mkdir()
    refused_dir.mkdir()
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(ok_dir), str(refused_dir)], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    locusts, ours, probe = (_request(raw) for raw in json.loads(done.stdout.strip().splitlines()[-1]))
    assert ours == locusts
    line, headers, body = ours
    assert line == "POST /predict?q=1 HTTP/1.1" and body == '{"a": 1}'
    assert "x-trace: t-1" in headers and "authorization: basic dxnlcjpwdw==" in headers
    assert "accept-encoding: gzip, deflate, br" in headers
    assert probe[0] == "GET /fail HTTP/1.1" and "x-trace: t-1" not in probe[1]
    main, failed = _rows(ok_dir)
    assert (main["status"], main["bytes"], main["error"], main["name"]) == ("200", "2", "", "/predict")
    assert (failed["status"], failed["bytes"], failed["error"], failed["kind"]) == ("500", "4", "HTTP 500", "probe")
    (refusal,) = _rows(refused_dir)
    assert (refusal["status"], refusal["error"]) == ("0", "ConnectionRefusedError")
