"""Reading a TOML file a user gives (a scenario, a catalog): one usage line when it cannot be read
or is not TOML, naming the option and the page that documents its format."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from profiler.base.errors import ConfigError


def read_toml(path: Path, option: str, doc: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(
            f"cannot read {option} file '{path}': {e.strerror or e}.", f"check the {option} path"
        ) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path.name} is not valid TOML ({e}).", f"see {doc} for the format") from None
