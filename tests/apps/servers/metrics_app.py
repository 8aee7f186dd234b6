"""A target that exposes Prometheus metrics as real apps do, for --metrics-url.

/cpu burns CPU on the event loop (~4 ms a request: one core at most); /gpu waits 50 ms as on a
model on a GPU; /metrics is
prometheus_client's own ASGI exposition, whose process collector reports this process's real
CPU seconds and resident memory. /dcgm/metrics stands in for NVIDIA's DCGM exporter on a machine
without a GPU: the DCGM names and labels, with utilisation that follows the /gpu requests in
flight (25 % each, to 100 %) and memory used of 1000 MiB plus 10 MiB per request in flight.

python tests/apps/servers/metrics_app.py --port N
"""

from __future__ import annotations

import argparse
import asyncio
import time

import uvicorn
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from prometheus_client import CollectorRegistry, Gauge, make_asgi_app

app = FastAPI()
app.mount("/metrics", make_asgi_app())
dcgm = CollectorRegistry()
app.mount("/dcgm/metrics", make_asgi_app(registry=dcgm))
labels = {"gpu": "0", "UUID": "GPU-stand-in", "modelName": "stand-in"}
util = Gauge("DCGM_FI_DEV_GPU_UTIL", "GPU utilization (in %).", list(labels), registry=dcgm).labels(**labels)
used = Gauge("DCGM_FI_DEV_FB_USED", "Framebuffer memory used (in MiB).", list(labels), registry=dcgm).labels(**labels)
free = Gauge("DCGM_FI_DEV_FB_FREE", "Framebuffer memory free (in MiB).", list(labels), registry=dcgm).labels(**labels)
in_flight = 0


def _gpu() -> None:
    util.set(min(100, 25 * in_flight))
    used.set(1000 + 10 * in_flight)
    free.set(80000 - 1000 - 10 * in_flight)


@app.get("/cpu")
async def cpu() -> PlainTextResponse:
    end = time.process_time() + 0.004
    while time.process_time() < end:
        pass
    return PlainTextResponse("ok")


@app.get("/gpu")
async def gpu() -> PlainTextResponse:
    global in_flight
    in_flight += 1
    _gpu()
    await asyncio.sleep(0.05)
    in_flight -= 1
    _gpu()
    return PlainTextResponse("ok")


@app.get("/health")
async def health() -> PlainTextResponse:
    return PlainTextResponse("ok")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    _gpu()
    uvicorn.run(app, host="127.0.0.1", port=parser.parse_args().port, log_level="warning")
