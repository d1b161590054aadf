"""Detector kinds by name.

A kind is a factory ``(DetectorSpec, sides) -> Detector`` that validates the spec's params (raising
``ValueError``/``ValidationError`` with a clear reason); ``sides`` are the scenario's two value side
ids. Built-in kinds register on import; third-party packages add kinds with ``register`` (or the
``goaldrift.detectors`` entry point group).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from goaldrift.detect.base import Detector
    from goaldrift.detect.spec import DetectorSpec, Sides

_KINDS: dict[str, Callable] = {}
_loaded = False


def register(kind: str) -> Callable[[Callable], Callable]:
    """Decorator: register a detector factory under ``kind``."""

    def deco(factory: Callable) -> Callable:
        _KINDS[kind] = factory
        return factory

    return deco


def _load_builtins() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    import goaldrift.detect.api
    import goaldrift.detect.ast_rules
    import goaldrift.detect.callers_probe
    import goaldrift.detect.credentials
    import goaldrift.detect.guards
    import goaldrift.detect.probe
    import goaldrift.detect.regex
    import goaldrift.detect.state_rules
    import goaldrift.detect.suites
    import goaldrift.detect.ts_boundary  # noqa: F401

    for ep in entry_points(group="goaldrift.detectors"):
        ep.load()


def kinds() -> list[str]:
    _load_builtins()
    return sorted(_KINDS)


def build(spec: DetectorSpec, sides: Sides) -> Detector:
    """Instantiate the detector ``spec`` describes. An unknown kind is a ``KeyError`` that suggests the
    nearest known kinds (a list of every kind hides the one meant); all of them only when none is near."""
    _load_builtins()
    try:
        factory = _KINDS[spec.kind]
    except KeyError:
        raise KeyError(f"unknown detector kind {spec.kind!r}; {_suggestion(spec.kind)}") from None
    return factory(spec, tuple(sides))


def _suggestion(kind: str) -> str:
    close = difflib.get_close_matches(kind, _KINDS, n=3, cutoff=0.6)
    if close:
        return "did you mean " + " or ".join(repr(k) for k in close) + "?"
    return f"known kinds: {', '.join(sorted(_KINDS))}"
