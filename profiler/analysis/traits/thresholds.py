"""Thresholds of the trait rules (documented in docs/traits.md; tests pin the edges)."""

from __future__ import annotations

CPU_SATURATED = 80.0  # % of one core for the busiest process, or of all cores for the tree
CPU_IDLE = 50.0  # busiest process below half a core at the plateau: something else limits
MULTI_CORE_PROCESS = 150.0  # one process above 1.5 cores runs native threads: not GIL-bound
PROBE_WAITS = 0.3  # probe p50 >= 30% of a real request's p50: the loop itself is queueing
PROBE_FAST = 0.2  # probe p50 < 20% of a real request's: the app still answers at once
POOL_FULL = 0.6  # requests in service >= 60% of the server's slots at an idle plateau: the pool is the cap
BLOCKING_SHARE = 0.3  # py-spy: share of samples in a blocking call on the loop that confirms it
IO_CPU_SHARE = 0.25  # CPU time per request < 25% of its latency: mostly waiting
IO_EFFICIENCY = 0.5  # throughput grew at least half as fast as concurrency
COLD_FACTOR = 3.0
COLD_MIN_MS = 50.0
TAIL_FACTOR = 5.0
TAIL_MIN_MS = 20.0
ERRORS_HIGH = 0.05
ERRORS_LOW = 0.01
RETROGRADE_DROP = 0.8
DOMINANT_SHARE = 0.4
# storage-bound & co: one category of work (analysis/wheretime/) takes this share of the working samples.
WORK_BOUND_SHARE = 0.4
MEMORY_MIN_GROWTH_MB = 20.0
MEMORY_MIN_R2 = 0.8
GPU_BUSY = 85.0
GPU_IDLE = 40.0
STREAM_TTFB_SHARE = 0.3
FLOOR_MIN_MS = 30.0  # headers-to-last-byte wait of a small body: Linux's delayed ACK is 40 ms
FLOOR_MAX_MS = 60.0
FLOOR_MAX_BYTES = 65536.0  # a body this small crosses loopback in well under a millisecond
STREAM_SLOWS = 1.5  # a stream's cadence at the heaviest stage over the lightest's
STREAM_SLOWS_MIN_MS = 5.0  # ... and at least this many ms longer
FIRST_TOKEN_QUEUES = 2.0  # time to the first token (or chunk), heaviest over lightest
MIN_STREAMS = 10  # streamed responses a stage needs before its cadence is read
# cacheable-responses: at least this share of a route's answers repeat an earlier answer to the
# same request, over at least CACHE_MIN_RESPONSES answers, while fewer than CACHE_HEADERS_SHARE
# of them say anything about caching (Cache-Control, ETag, Last-Modified, Expires).
CACHEABLE_REPEAT_SHARE = 0.5
CACHE_MIN_RESPONSES = 30
CACHE_HEADERS_SHARE = 0.5
CACHE_VARIED_REQUESTS = 10  # cacheable needs this many distinct requests: one test URL always repeats
# low-cache-hit-ratio: a cache gave its verdict on CACHE_MIN_RESPONSES answers, hit fewer than this
# share, and a miss's median took at least LOW_HIT_MISS_FACTOR times a hit's (the cache matters).
LOW_HIT_RATIO = 0.5
LOW_HIT_MISS_FACTOR = 1.5
CACHE_TARGET_HIT_RATIO = 0.9  # the hit ratio the advice prices (the "instances saved at 90%")
