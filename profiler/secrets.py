"""Which values are secrets, decided once: every saved file and message masks them the same way."""

from __future__ import annotations

SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization", "x-api-key", "api-key"})
MASK = "***"


def mask_header(name: str, value: str) -> str:
    return MASK if name.lower() in SECRET_HEADERS else value


# A command-line option whose name says it holds a secret (--api-key, --db-password, TOKEN=...).
SECRET_WORDS = ("key", "token", "secret", "password", "passwd", "pwd", "auth", "credential")


def _secret_name(name: str) -> bool:
    return any(word in name.lower() for word in SECRET_WORDS)


def mask_argv(argv: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """A command line with the values of secret-named options masked (`--token X`, `--token=X`,
    `API_KEY=X`) and passwords in URLs (`scheme://user:pass@host`) hidden."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next and not arg.startswith("-"):
            out.append(MASK)
            hide_next = False
            continue
        hide_next = False
        name, eq, _value = arg.partition("=")
        if eq and _secret_name(name):
            out.append(f"{name}={MASK}")
        elif arg.startswith("-") and _secret_name(arg):
            out.append(arg)
            hide_next = True
        elif "://" in arg and "@" in arg:
            scheme, _, rest = arg.partition("://")
            creds, _, host = rest.rpartition("@")
            out.append(f"{scheme}://{creds.partition(':')[0]}:{MASK}@{host}" if ":" in creds else arg)
        else:
            out.append(arg)
    return tuple(out)
