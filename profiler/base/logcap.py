"""Capped logs of the children's output: target.log, loadgen.log, sampler.log.

A child writes into a pipe that a pump thread here always drains, so a chatty child never blocks
on a full pipe, and never fills the disk: the file gets the first HEAD_BYTES of the output as it
comes; past that, only the last TAIL_BYTES are kept (in memory), and written when the log closes,
after a line marking the cut and before a closing note:

    [profiler: 95420416 bytes of output dropped, the log is capped at 5 MiB]

The log closes when the child's output ends (every process holding the pipe has exited), or when
its owner calls close(). The last few KiB are always at hand (recent()) for error messages, even
once the file stopped growing.

If the profiler itself is killed (SIGKILL), the pump dies with it: the file keeps what it had
(the head; the in-memory tail and the note are lost), and the read end of the pipe closes, so a
child that writes afterwards gets SIGPIPE or EPIPE. That is acceptable: every child is being
stopped then anyway (PR_SET_PDEATHSIG, profiler/base/procutil.py).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import IO

MIB = 1 << 20
HEAD_BYTES = 4 * MIB  # kept from the start of the output: how it started, the first errors
TAIL_BYTES = 1 * MIB  # kept from the end: how it ended, the last errors
RECENT_BYTES = 8192  # always at hand for error messages
_CHUNK = 65536


class CappedLog:
    """One child's output, read from its pipe by a pump thread into a capped file."""

    def __init__(self, path: Path, head_bytes: int = HEAD_BYTES, tail_bytes: int = TAIL_BYTES) -> None:
        self.path = path
        self.head_bytes = head_bytes
        self.tail_bytes = tail_bytes
        self.received = 0  # bytes the child wrote
        self._file: IO[bytes] | None = path.open("ab", buffering=0)
        self._last = bytearray()  # the last max(tail_bytes, RECENT_BYTES) of the output
        self._lock = threading.Lock()
        self._ended = threading.Event()  # the pipe reached EOF
        self._pump: threading.Thread | None = None

    @classmethod
    def follow(cls, path: Path, pipe: IO[bytes] | None, **caps: int) -> CappedLog:
        """Start pumping `pipe` (a Popen's stdout or stderr) into a capped log at `path`."""
        if pipe is None:
            raise ValueError("CappedLog.follow needs the child's pipe (stdout/stderr=PIPE)")
        log = cls(path, **caps)
        log._pump = threading.Thread(target=log._drain, args=(pipe,), name=f"log {path.name}", daemon=True)
        log._pump.start()
        return log

    def _drain(self, pipe: IO[bytes]) -> None:
        fd = pipe.fileno()
        try:
            while True:
                try:
                    chunk = os.read(fd, _CHUNK)
                except InterruptedError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                self.write(chunk)
        finally:
            self._end()
            pipe.close()
            self._ended.set()

    def write(self, data: bytes) -> None:
        with self._lock:
            room = max(0, self.head_bytes - self.received)
            self.received += len(data)
            if room:
                self._to_file(data[:room])
            self._last += data
            excess = len(self._last) - max(self.tail_bytes, RECENT_BYTES)
            if excess > 0:
                del self._last[:excess]

    @property
    def dropped(self) -> int:
        """Bytes of output that are in neither the head nor the tail."""
        with self._lock:
            return max(0, self.received - self.head_bytes - self.tail_bytes)

    def recent(self, wait_s: float = 0.0, limit: int = RECENT_BYTES) -> str:
        """The last `limit` bytes of output, as text. `wait_s`: how long to wait for the output to
        end first, for a child that just exited (the pump may not have read its last lines yet)."""
        if wait_s > 0:
            self._ended.wait(wait_s)
        with self._lock:
            return bytes(self._last[-limit:]).decode(errors="replace")

    def close(self, timeout_s: float = 2.0) -> None:
        """Finish the file once the output ends. A process that still holds the pipe after
        `timeout_s` (one that left the child's process group) is drained on, into memory only."""
        if self._pump is not None:
            self._pump.join(timeout_s)
        self._end()

    def _to_file(self, data: bytes) -> None:
        if self._file is None:
            return
        try:
            self._file.write(data)
        except OSError:
            # Disk full or the like: the run folder's own writers report it; the pipe must still drain.
            self._file.close()
            self._file = None

    def _end(self) -> None:
        """Append the kept tail and the note, once."""
        with self._lock:
            if self._file is None:
                return
            beyond = self.received - self.head_bytes
            kept = min(max(beyond, 0), self.tail_bytes)
            dropped = beyond - kept
            cap = f"{(self.head_bytes + self.tail_bytes) / MIB:g} MiB"
            if dropped > 0:
                self._to_file(f"\n[profiler: {dropped} bytes cut here; the last {kept} follow]\n".encode())
            if kept > 0:
                self._to_file(bytes(self._last[-kept:]))
            if dropped > 0:
                self._to_file(f"\n[profiler: {dropped} bytes of output dropped, the log is capped at {cap}]\n".encode())
            if self._file is not None:
                self._file.close()
                self._file = None
