"""Which values are secrets, decided once: every saved file, report, terminal line and error
message masks them with the functions here, by the same rule.

The rule is a name: a header, query parameter, JSON field, command-line option or `NAME=value`
whose name holds one of SECRET_WORDS (case-insensitive) has its value replaced by MASK. That
covers Authorization, Proxy-Authorization, Cookie, X-Api-Key, X-Auth-Token, ?token=, "password"
and --db-password alike. A URL's userinfo (`scheme://user:pass@host`) is a secret whatever the
names: the password, or a lone user part (often a token), is masked.
"""

from __future__ import annotations

import json
import re
import shlex
from typing import Any
from urllib.parse import unquote

MASK = "***"
# Substrings, not whole names: a secret is called many things (X-Api-Key, api_key, apikey,
# DB_PASSWORD, access_token). Masking a harmless value is cheap; leaking one is not.
SECRET_WORDS = ("key", "token", "secret", "password", "passwd", "pwd", "auth", "credential", "cookie", "session")

# `Name: value` as given to curl's -H (a target's own command line may hold one).
_HEADER_ARG = re.compile(r"^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*:")


def is_secret_name(name: str) -> bool:
    lowered = unquote(name).lower()
    return any(word in lowered for word in SECRET_WORDS)


def mask_header(name: str, value: str) -> str:
    return MASK if is_secret_name(name) else value


def _mask_params(text: str) -> str:
    """`a=1&token=x` with the values of secret-named parameters masked; the rest left as given."""
    parts = []
    for part in text.split("&"):
        name, eq, _value = part.partition("=")
        parts.append(f"{name}={MASK}" if eq and is_secret_name(name) else part)
    return "&".join(parts)


def mask_url(url: str) -> str:
    """The URL with its userinfo and secret-named query (and fragment) parameters masked.

    Plain string work, not urlsplit: it must also mask a URL too malformed to parse, since that
    is the URL an error message names."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    ends = [i for i in (rest.find(c) for c in "/?#") if i >= 0]
    end = min(ends) if ends else len(rest)
    authority, tail = rest[:end], rest[end:]
    creds, at, host = authority.rpartition("@")
    if at:
        user, colon, _password = creds.partition(":")
        authority = f"{user}:{MASK}@{host}" if colon else f"{MASK}@{host}"
    tail, hash_, fragment = tail.partition("#")
    path, q, query = tail.partition("?")
    tail = path + q + _mask_params(query) + hash_ + _mask_params(fragment)
    return f"{scheme}{sep}{authority}{tail}"


# A URL inside a sentence: up to a space or a quote (messages quote what they name).
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"]+")


def mask_text(text: str) -> str:
    """Free text (a message, a notice) with every URL in it masked: the last guard before a line
    reaches the terminal, whoever wrote it."""
    return _URL_IN_TEXT.sub(lambda m: mask_url(m.group(0)), text)


def _mask_fields(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: MASK if is_secret_name(str(k)) else _mask_fields(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_fields(v) for v in value]
    return value


def mask_body(body: bytes) -> str:
    """A request body as it may be shown: JSON with secret-named fields masked (at any depth), a
    form body (`a=1&password=x`) with those parameters masked, anything else by its size only."""
    try:
        text = body.decode()
    except UnicodeDecodeError:
        return f"<{len(body)} bytes>"
    try:
        return json.dumps(_mask_fields(json.loads(text)))
    except ValueError:
        pass
    if "=" in text and not any(c.isspace() for c in text.strip()):
        return _mask_params(text.strip())
    return f"<{len(body)} bytes>"


def mask_argv(argv: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """A command line with the values of secret-named options masked (`--token X`, `--token=X`,
    `API_KEY=X`, `-H 'X-Api-Key: X'`) and URLs masked (`mask_url`)."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next and not arg.startswith("-"):
            out.append(MASK)
            hide_next = False
            continue
        hide_next = False
        name, eq, _value = arg.partition("=")
        header = _HEADER_ARG.match(arg)
        if eq and "://" not in name and is_secret_name(name):
            out.append(f"{name}={MASK}")
        elif not eq and arg.startswith("-") and is_secret_name(arg):
            out.append(arg)
            hide_next = True
        elif "://" in arg:
            out.append(mask_url(arg))
        elif header and is_secret_name(header.group(1)):
            out.append(f"{header.group(1)}: {MASK}")
        else:
            out.append(arg)
    return tuple(out)


def mask_command(command: str) -> str:
    """A command line given as one string (--launch), masked as `mask_argv` masks its words.
    Split by shell rules so that a quoted secret with spaces in it is masked whole; a word that
    is itself a command (`sh -c '... --token x'`) is masked the same way."""
    try:
        words = shlex.split(command)
    except ValueError:  # unbalanced quotes: words by spaces still mask what they can
        words = command.split()
    masked = [mask_command(w) if len(w.split()) > 1 else w for w in mask_argv(words)]
    # Quoted only where a word needs it to read back as one word: `--token=***` stays as typed.
    return " ".join(w if w and not re.search(r"[\s'\"\\]", w) else shlex.quote(w) for w in masked)
