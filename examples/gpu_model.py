"""gpu_model: a model server whose inference runs on a CUDA GPU (needs PyTorch and a GPU).

Two modes show the two GPU traits:

* `--work heavy` (default): each request runs a chain of large bf16 matrix products
  (about 10-30 ms of GPU time on a current data-centre GPU). Requests are served by the
  threadpool (`def` endpoint), so several are in flight and the GPU stays busy: throughput
  plateaus with the GPU near 100% -> `gpu-bound`.
* `--work light`: each request runs one small product (well under a millisecond of GPU
  time) but holds a lock around "inference" as naive model servers do (one request on the
  model at a time, plus Python and launch overhead). Requests queue while the GPU idles
  -> `gpu-underutilized` (a batching opportunity).

Physics: `torch.cuda.synchronize()` releases the GIL while the GPU works, so threads overlap
GPU work in heavy mode; in light mode the per-request fixed costs (Python, kernel launches,
the lock) dominate, and the GPU sees one tiny kernel at a time.

Not used by the test suite (CI has no GPU); used to verify NVML sampling on a GPU machine:

    profiler run 'http://127.0.0.1:{port}/predict' --launch 'python examples/gpu_model.py --port {port}'
"""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import uvicorn
from fastapi import FastAPI

from profiler.handoff import ServerTimingMiddleware, handoff

api = FastAPI(title="gpu_model")
DEVICE = torch.device("cuda" if torch.cuda.is_available() else "cpu")
MODE = {"work": "heavy"}
_lock = threading.Lock()
_weights: dict[str, torch.Tensor] = {}


def _load() -> None:
    size = 8192 if MODE["work"] == "heavy" else 512
    gen = torch.Generator(device=DEVICE).manual_seed(0)
    _weights["w"] = torch.randn(size, size, device=DEVICE, dtype=torch.bfloat16, generator=gen)
    _weights["x"] = torch.randn(size, size, device=DEVICE, dtype=torch.bfloat16, generator=gen)


@api.api_route("/predict", methods=["GET", "POST"])
def predict() -> dict[str, float]:
    w, x = _weights["w"], _weights["x"]
    if MODE["work"] == "heavy":
        with handoff("model", desc="gpu"):
            y = x
            for _ in range(8):
                y = torch.tanh(y @ w)
            torch.cuda.synchronize()
    else:
        with handoff("queue"), _lock, handoff("model", desc="gpu"):
            y = torch.tanh(x @ w)
            torch.cuda.synchronize()
    with handoff("serialize"):
        value = float(y[0, 0].float().item())
    return {"score": value}


app = ServerTimingMiddleware(api)


def main() -> None:
    parser = argparse.ArgumentParser(description="gpu_model example app")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--work", choices=("heavy", "light"), default="heavy")
    args = parser.parse_args()
    MODE["work"] = args.work
    _load()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning", workers=1)


if __name__ == "__main__":
    main()
