"""Two routes of different behaviour behind one server, and a login, for per-route results:
GET /compute spends --compute-ms of CPU (hashing) on the event loop, GET /wait awaits --wait-ms
(an I/O wait: no CPU). POST /login answers {"access_token": ...} and sets a session cookie to a
JSON body {"user": ..., "password": ...} whose password is --password; with --auth, /compute and
/wait answer 401 unless they carry that token (or cookie).

python examples/scenarios/app.py --port N [--compute-ms 8] [--wait-ms 40] [--password p] [--auth]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import time

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse

app = FastAPI()
TOKEN, COOKIE = "tok-5f2a", "sess-91c3"
settings = {"compute_s": 0.008, "wait_s": 0.04, "password": "", "auth": False}


def _allowed(request: Request) -> bool:
    if not settings["auth"]:
        return True
    return request.headers.get("authorization") == f"Bearer {TOKEN}" or request.cookies.get("session") == COOKIE


@app.post("/login")
async def login(request: Request) -> JSONResponse:
    body = await request.json()
    if body.get("password") != settings["password"]:
        return JSONResponse({"error": "bad password"}, status_code=403)
    response = JSONResponse({"access_token": TOKEN})
    response.set_cookie("session", COOKIE)
    return response


@app.get("/compute")
async def compute(request: Request) -> PlainTextResponse:
    if not _allowed(request):
        return PlainTextResponse("no", status_code=401)
    end, digest = time.thread_time() + float(settings["compute_s"]), b"x"
    while time.thread_time() < end:  # CPU time, not wall time: the same work however busy the machine
        for _ in range(200):
            digest = hashlib.sha256(digest).digest()
    return PlainTextResponse(digest.hex()[:8])


@app.get("/wait")
async def wait(request: Request) -> PlainTextResponse:
    if not _allowed(request):
        return PlainTextResponse("no", status_code=401)
    await asyncio.sleep(float(settings["wait_s"]))
    return PlainTextResponse("ok")


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--compute-ms", type=float, default=8.0)
    p.add_argument("--wait-ms", type=float, default=40.0)
    p.add_argument("--password", default="")
    p.add_argument("--auth", action="store_true")
    a = p.parse_args()
    settings.update(compute_s=a.compute_ms / 1000, wait_s=a.wait_ms / 1000, password=a.password, auth=a.auth)
    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning")
