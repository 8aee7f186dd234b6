"""llm_stream: an OpenAI-compatible chat endpoint that streams like an LLM, with a known cadence.

POST (or GET) /v1/chat/completions answers `text/event-stream`: after a prefill delay it sends
--tokens chunks `data: {"choices":[{"delta":{"content":"tok "}}]}` at a steady --cadence-ms,
then a usage chunk (`"usage": {"completion_tokens": N}`) and `data: [DONE]`, as OpenAI's API
and vLLM do with `stream_options.include_usage`.

Behaviour: the prefill delay grows with the streams in flight (--prefill-ms plus
--prefill-per-stream-ms for each other stream being served: prompts queue for the model), while
the token cadence stays steady: time to first token rises with users, inter-token latency does
not. With --shared, every token step of every stream goes through one shared generator (a lock
held --step-ms per token): the cadence then stretches as streams are added, like one model
replica decoding for all of them.

Expected profiler figures: time to first token ~ prefill, inter-chunk gap ~ cadence (a few ms
over it: the event loop's timer), tokens = --tokens per response; trait streaming-responses
(and, with --shared, stream-slows-under-load).

python examples/llm_stream.py --port N [--tokens 24] [--cadence-ms 20] [--prefill-ms 30]
    [--prefill-per-stream-ms 10] [--shared --step-ms 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections.abc import AsyncIterator

import uvicorn
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

app = FastAPI(title="llm_stream")
settings = {"tokens": 24, "cadence_s": 0.02, "prefill_s": 0.03, "per_stream_s": 0.01, "shared": False, "step_s": 0.008}
state = {"streams": 0}
generator = asyncio.Lock()  # the one model replica, when --shared


def _chunk(doc: dict[str, object]) -> str:
    return f"data: {json.dumps(doc)}\n\n"


async def _token_step() -> None:
    if not settings["shared"]:
        await asyncio.sleep(float(settings["cadence_s"]))
        return
    async with generator:  # each stream's next token waits for every other stream's step
        await asyncio.sleep(float(settings["step_s"]))


async def _stream() -> AsyncIterator[str]:
    others = state["streams"]
    state["streams"] += 1
    try:
        await asyncio.sleep(float(settings["prefill_s"]) + others * float(settings["per_stream_s"]))
        n = int(settings["tokens"])
        for i in range(n):
            if i:
                await _token_step()
            yield _chunk({"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": f"t{i} "}}]})
        yield _chunk({"object": "chat.completion.chunk", "choices": [], "usage": {"completion_tokens": n}})
        yield "data: [DONE]\n\n"
    finally:
        state["streams"] -= 1


@app.api_route("/v1/chat/completions", methods=["GET", "POST"])
async def completions() -> StreamingResponse:
    return StreamingResponse(_stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})


def main() -> None:
    p = argparse.ArgumentParser(description="an LLM-like streaming endpoint")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--tokens", type=int, default=24)
    p.add_argument("--cadence-ms", type=float, default=20.0)
    p.add_argument("--prefill-ms", type=float, default=30.0)
    p.add_argument("--prefill-per-stream-ms", type=float, default=10.0)
    p.add_argument("--shared", action="store_true")
    p.add_argument("--step-ms", type=float, default=8.0)
    a = p.parse_args()
    settings.update(tokens=a.tokens, cadence_s=a.cadence_ms / 1000, prefill_s=a.prefill_ms / 1000,
                    per_stream_s=a.prefill_per_stream_ms / 1000, shared=a.shared, step_s=a.step_ms / 1000)  # fmt: skip
    uvicorn.run(app, host="127.0.0.1", port=a.port, log_level="warning")


if __name__ == "__main__":
    main()
