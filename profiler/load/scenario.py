"""A scenario file (`--scenario scenario.toml`): several weighted requests, an optional login, and
think time, for people who do not write a locustfile. Docs: docs/scenarios.md.

Parsed and checked here, before anything starts; the worker makes it into a Locust user class
(`scenario_user`). `${NAME}` in a header value, a path or a body is taken from the environment by
the worker itself as it sends, so the expanded value (a key, a password) never travels in the
spec, never reaches a saved file, and the copy kept in the run folder shows the `${NAME}`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from profiler.base.durations import read_duration
from profiler.base.errors import ConfigError
from profiler.base.secrets import mask_body, mask_header
from profiler.base.tomlfile import read_toml

ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MAX_BODY_BYTES = 16 * 2**20  # a body file past this is a mistake (a dataset, not a request)
HTTP_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class Step(BaseModel):
    """One request of the scenario, as written (templates unexpanded)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    path: str
    method: str = "GET"
    name: str | None = None  # the route's label; default "the path"
    weight: int = Field(default=1, ge=1, le=10_000)
    headers: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, alias="json")
    json_file: str | None = None
    body: str | None = None

    @field_validator("method")
    @classmethod
    def _method(cls, value: str) -> str:
        if value.upper() not in HTTP_METHODS:
            raise ValueError(f"method '{value}' is not one of {', '.join(sorted(HTTP_METHODS))}")
        return value.upper()

    @field_validator("path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError(f"path '{value}' does not start with '/' (it is relative to the run's URL)")
        return value

    @model_validator(mode="after")
    def _one_body(self) -> Step:
        if sum(x is not None for x in (self.json_body, self.json_file, self.body)) > 1:
            raise ValueError("give at most one of json, json_file and body")
        return self

    @property
    def label(self) -> str:
        return self.name or self.path.partition("?")[0]


class Login(Step):
    """Sent once by each user before its first request; cookies it sets are kept by the user's
    session. `token` names a field of its JSON answer (dots for nesting) sent afterwards as
    `Authorization: Bearer <token>`."""

    method: str = "POST"
    token: str | None = None
    token_header: str = "Authorization"
    token_prefix: str = "Bearer "


class Scenario(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    think_time: tuple[float, float] = (0.0, 0.0)  # seconds, uniform between the two
    login: Login | None = None
    requests: list[Step] = Field(min_length=1, alias="request")
    folder: str = "."  # where json_file paths are read from: the scenario file's folder

    def masked(self) -> Scenario:
        """The copy for the record: templates stay `${NAME}`; literal secrets (a secret-named
        header, a password in a JSON body) are masked."""

        def mask(step: Step) -> dict[str, Any]:
            body = mask_body(json.dumps(step.json_body).encode()) if step.json_body is not None else None
            return {
                "headers": {k: mask_header(k, v) for k, v in step.headers.items()},
                "json_body": json.loads(body) if body and body.startswith(("{", "[")) else step.json_body,
                "body": mask_body(step.body.encode()) if step.body is not None else None,
            }

        login = self.login.model_copy(update=mask(self.login)) if self.login else None
        return self.model_copy(
            update={"login": login, "requests": [s.model_copy(update=mask(s)) for s in self.requests]}
        )


def expand(text: str, environ: dict[str, str] | None = None) -> str:
    """`${NAME}` replaced from the environment (checked to be set by `load_scenario`)."""
    env = os.environ if environ is None else environ
    return ENV_REF.sub(lambda m: env.get(m.group(1), ""), text)


def expand_value(value: Any) -> Any:
    """A JSON body with `${NAME}` expanded in every string."""
    if isinstance(value, str):
        return expand(value)
    if isinstance(value, dict):
        return {k: expand_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_value(v) for v in value]
    return value


def _references(step: Step) -> set[str]:
    texts = [step.path, *step.headers.values(), step.body or "", json.dumps(step.json_body)]
    return {m.group(1) for text in texts for m in ENV_REF.finditer(text)}


def _think_time(raw: Any) -> tuple[float, float]:
    if isinstance(raw, list) and len(raw) == 2:
        low, high = (read_duration(str(v), "think_time") for v in raw)
    elif isinstance(raw, str | int | float):
        low = high = read_duration(str(raw), "think_time")
    else:
        raise ConfigError(
            "think_time is neither a duration nor two of them.", 'e.g. think_time = "1s" or ["0.5s", "2s"]'
        )
    if not 0 <= low <= high <= 3600:
        raise ConfigError("think_time must run from 0 up to an hour, the lower bound first.", 'e.g. ["0.5s", "2s"]')
    return low, high


def _first_error(path: Path, error: ValidationError) -> ConfigError:
    first = error.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "the file"
    message = str(first["msg"]).removeprefix("Value error, ")
    return ConfigError(f"{path.name}: {where}: {message}.", "see docs/scenarios.md for the format")


def load_scenario(path: Path, environ: dict[str, str] | None = None) -> Scenario:
    """The scenario file, checked: its TOML, its fields, its body files, and every `${NAME}` set."""
    raw = read_toml(path, "--scenario", "docs/scenarios.md")
    if "think_time" in raw:
        raw["think_time"] = _think_time(raw["think_time"])
    try:
        scenario = Scenario.model_validate({**raw, "folder": str(path.parent.resolve())})
    except ValidationError as e:
        raise _first_error(path, e) from None
    env = os.environ if environ is None else environ
    steps = [*([scenario.login] if scenario.login else []), *scenario.requests]
    missing = sorted({name for step in steps for name in _references(step)} - set(env))
    if missing:
        raise ConfigError(
            f"{path.name} uses ${{{missing[0]}}}, which is not set in the environment.",
            f"export {missing[0]}=... before the run (its value is never saved nor shown)",
        )
    for step in steps:
        if step.json_file is not None:
            read_json_file(scenario, step.json_file)
    return scenario


def read_json_file(scenario: Scenario, name: str) -> Any:
    """A step's json_file, relative to the scenario's folder, parsed."""
    file = Path(scenario.folder) / name
    try:
        if file.stat().st_size > MAX_BODY_BYTES:
            raise ConfigError(f"json_file '{name}' is over 16 MiB.", "send a smaller body")
        return json.loads(file.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(
            f"cannot read json_file '{name}': {e.strerror or e}.", "paths are relative to the scenario file"
        ) from None
    except ValueError as e:
        raise ConfigError(f"json_file '{name}' is not JSON ({e}).", "check the file") from None
