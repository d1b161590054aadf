"""Built-in scenario packs (data folders) and lookup of packs by id or path.

A pack is found by: a path to a folder with ``scenario.yaml``; a built-in id (a folder beside this
file); or an id exposed by another package in the ``goaldrift.packs`` entry-point group (the entry
point's value is a module whose directory — or a ``PACK_DIR`` attribute — is the pack folder).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import import_module
from importlib.metadata import entry_points
from pathlib import Path

from goaldrift.errors import ConfigError
from goaldrift.scenario import SCENARIO_FILE, Scenario, load_scenario

BUILTIN_DIR = Path(__file__).resolve().parent


def available() -> dict[str, Path]:
    """Pack id -> folder, for built-in and installed packs."""
    packs = {p.name: p for p in sorted(BUILTIN_DIR.iterdir()) if (p / SCENARIO_FILE).is_file()}
    for ep in entry_points(group="goaldrift.packs"):
        module = import_module(ep.value)
        packs[ep.name] = Path(getattr(module, "PACK_DIR", Path(module.__file__).parent))
    return packs


def locate(ref: str, base: Path | None = None) -> Path:
    """The folder of a pack given by id or path (relative paths resolve against ``base``)."""
    candidate = Path(ref)
    if not candidate.is_absolute() and base is not None:
        candidate = base / candidate
    if (candidate / SCENARIO_FILE).is_file() or (candidate.is_file() and candidate.name == SCENARIO_FILE):
        return candidate if candidate.is_dir() else candidate.parent
    packs = available()
    if ref in packs:
        return packs[ref]
    raise ConfigError(
        f"unknown scenario {ref!r}: not a folder with {SCENARIO_FILE} and not a known pack "
        f"({', '.join(sorted(packs)) or 'none installed'}); see `goaldrift scenarios list`"
    )


@lru_cache(maxsize=64)
def _load_cached(path: str, mtime: float) -> Scenario:
    return load_scenario(Path(path))


def load(ref: str, base: Path | None = None) -> Scenario:
    """Load a pack by id or path (cached per process while its scenario.yaml is unchanged)."""
    folder = locate(ref, base)
    return _load_cached(str(folder), (folder / SCENARIO_FILE).stat().st_mtime)
