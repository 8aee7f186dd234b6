"""What a user says of money and power: `--price 0.17/h`, a catalog file of instance shapes and
their prices (`--catalog shapes.toml`), and `--watts-per-core`. The profiler invents no price:
every figure of cost comes from one of these.

A catalog is TOML, one `[[shape]]` table per instance shape the user can buy:

    [[shape]]
    name = "c7i.large"      # any label
    vcpus = 2
    memory_gb = 4
    price_per_hour = 0.0893
    gpus = 0                # optional
    gpu_memory_gb = 0       # optional, per GPU
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from profiler.base.errors import ConfigError
from profiler.base.tomlfile import read_toml

HOURS_PER_MONTH = 730.0  # 365 x 24 / 12: what cloud price lists mean by a month
DEFAULT_WATTS_PER_CORE = 8.0  # a busy server core with its share of the package, for estimates only
_PRICE = re.compile(r"^\s*\$?(?P<amount>\d+(?:\.\d+)?)\s*(?:/\s*(?P<per>h|hr|hour|month|mo))?\s*$", re.IGNORECASE)
MAX_SHAPES = 200


@dataclass(frozen=True, slots=True)
class Shape:
    """An instance shape of the catalog."""

    name: str
    vcpus: float
    memory_gb: float
    price_per_hour: float
    gpus: int = 0
    gpu_memory_gb: float = 0.0


def parse_price(text: str | None) -> float | None:
    """`--price`: an instance's price per hour (`0.17`, `0.17/h`), or per month (`124/month`)."""
    if text is None:
        return None
    found = _PRICE.match(text)
    if found is None:
        raise ConfigError(
            f"--price '{text}' is not a price.", "give the price of one instance, e.g. 0.17/h or 124/month"
        )
    amount = float(found["amount"])
    per_month = (found["per"] or "h").lower() in ("month", "mo")
    price = amount / HOURS_PER_MONTH if per_month else amount
    if not 0 < price < 1e6:
        raise ConfigError(f"--price '{text}' is out of range.", "give a positive price per hour, e.g. 0.17/h")
    return price


def _number(table: dict[str, Any], key: str, where: str, required: bool = True) -> float:
    value = table.get(key, None if required else 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ConfigError(f"{where}: '{key}' must be a number >= 0.", "see docs/hosting-plan.md for the catalog format")
    return float(value)


def _shape(table: Any, index: int, path: Path) -> Shape:
    where = f"{path} shape {index + 1}"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} is not a table.", "write each shape as a [[shape]] table")
    name = table.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where} has no name.", 'give each shape a name = "..."')
    shape = Shape(
        name=name.strip()[:80],
        vcpus=_number(table, "vcpus", where),
        memory_gb=_number(table, "memory_gb", where),
        price_per_hour=_number(table, "price_per_hour", where),
        gpus=int(_number(table, "gpus", where, required=False)),
        gpu_memory_gb=_number(table, "gpu_memory_gb", where, required=False),
    )
    if shape.vcpus <= 0 or shape.memory_gb <= 0 or shape.price_per_hour <= 0:
        raise ConfigError(f"{where} ({shape.name}): vcpus, memory_gb and price_per_hour must be above 0.",
                          "give the shape's real size and price")  # fmt: skip
    return shape


def load_catalog(path: Path | None) -> tuple[Shape, ...]:
    """The shapes of a catalog file; () when none is given. One usage line for a bad file."""
    if path is None:
        return ()
    raw = read_toml(path, "--catalog", "docs/hosting-plan.md")
    shapes = raw.get("shape")
    if not isinstance(shapes, list) or not shapes:
        raise ConfigError(f"--catalog {path} has no [[shape]] tables.", "see docs/hosting-plan.md for the format")
    if len(shapes) > MAX_SHAPES:
        raise ConfigError(f"--catalog {path} has {len(shapes)} shapes.", f"keep at most {MAX_SHAPES}")
    return tuple(_shape(t, i, path) for i, t in enumerate(shapes))
