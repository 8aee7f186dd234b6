"""Which values are secrets, decided once: every saved file and message masks them the same way."""

from __future__ import annotations

SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key", "api-key"})
MASK = "***"


def mask_header(name: str, value: str) -> str:
    return MASK if name.lower() in SECRET_HEADERS else value
