"""Which way an asymmetry points, and which baseline a pressure condition is compared with.

Orientation. Sorting the two sides of a value pair by name made the sign of every asymmetry an
accident of spelling (negative for utility-privacy, positive for efficiency-security on data that
drift toward privacy and security in both). Instead every value pair has a **reference side** R —
the side a model is expected to hold more strongly — and O, the other side. Conditions where the
constraint favours O and pressure pushes toward R (``O->R``) measure drift *toward* R; ``R->O``
measures drift *away from* R. Every contrast is "toward R minus away from R", so a positive number
always means "the model drifts toward R more than away from it", in every pair.

R comes from, in order: an explicit ``--reference SCENARIO=SIDE`` given to the report; the pack's
``expected_stronger`` (built-in packs, or ``--packs DIR``; a pack that does not declare it defaults
to the side listed second in ``values``); if the pack cannot be found, the alphabetically second
side, flagged as a default in every table.

Baselines. A pressure condition's baseline is the condition with the same constraint side and the
same non-pressure factors (placement, session, harness) and no pressure:
``utility->privacy@dose=0.5,onset=4`` against ``utility``, ``utility->privacy@placement=instructions``
against ``utility@placement=instructions``, ``utility->privacy@harness=codex`` against
``utility@harness=codex``. Pressure-only factors (channel, dose, onset) have no baseline of
their own. The baseline is named in every comparison.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from goaldrift.errors import BadInput, GoaldriftError

BASELINE_FACTORS = ("placement", "session", "harness")
"""Condition factors that also apply without pressure (the others only shape the pressure)."""


@dataclass(frozen=True)
class Orientation:
    scenario_id: str
    reference: str  # R: the side expected to be held more strongly
    other: str      # O
    source: str     # "given", "pack" or "default (...)"

    @property
    def is_default(self) -> bool:
        return self.source.startswith("default")


def _pack_reference(scenario_id: str, pack_dirs: Iterable[Path]) -> str | None:
    """The pack's declared side; only its ``scenario.yaml`` is read (loading whole packs — every
    reference, the template, the digest — cost seconds in every report)."""
    from goaldrift import packs
    from goaldrift.scenario import load_spec

    for base in [*pack_dirs, None]:
        try:
            folder = packs.locate(scenario_id if base is None else str(Path(base) / scenario_id))
            return load_spec(folder).stronger_side
        except (GoaldriftError, OSError):
            continue
    return None


def resolve(sides: Mapping[str, Iterable[str]], given: Mapping[str, str] | None = None,
            pack_dirs: Iterable[Path] = ()) -> dict[str, Orientation]:
    """Orientation per scenario from its observed sides (see the module docstring for the order)."""
    given = dict(given or {})
    unknown = sorted(set(given) - set(sides))
    if unknown:
        raise BadInput(f"--reference: no runs of scenario {', '.join(map(repr, unknown))} in this store "
                       f"(scenarios: {', '.join(sorted(sides)) or 'none'})")
    out: dict[str, Orientation] = {}
    for scen, ss in sides.items():
        pair = sorted(set(map(str, ss)))
        if scen in given:
            ref, source = given[scen], "given"
            if ref not in pair:
                raise BadInput(f"--reference {scen}={ref}: {ref!r} is not a side of {scen} (sides: {', '.join(pair)})")
        else:
            ref = _pack_reference(scen, pack_dirs)
            source = "pack"
            if ref is None or ref not in pair:
                ref, source = pair[-1], "default (no pack declares a side: alphabetically second)"
        other = next((s for s in pair if s != ref), "")
        out[scen] = Orientation(scen, ref, other, source)
    return out


def parse_references(items: Iterable[str]) -> dict[str, str]:
    """``["utility-privacy=privacy", ...]`` → {scenario: side}; a malformed item is a BadInput."""
    out: dict[str, str] = {}
    for item in items:
        scen, sep, side = item.partition("=")
        if not sep or not scen.strip() or not side.strip():
            raise BadInput(f"--reference {item!r}: use SCENARIO=SIDE, e.g. utility-privacy=privacy")
        out[scen.strip()] = side.strip()
    return out


def factors(condition: str) -> dict[str, str]:
    """The non-default factors of a condition name (``side->other@k=v,k=v``)."""
    _, _, tail = condition.partition("@")
    return dict(p.split("=", 1) for p in tail.split(",") if "=" in p)


def factor_suffix(condition: str) -> str:
    return condition.partition("@")[2]


def baseline_of(condition: str, constraint_side: str, baselines: Iterable[str]) -> str | None:
    """The baseline condition a pressure condition is compared with, or None if it was not run."""
    keep = {k: v for k, v in factors(condition).items() if k in BASELINE_FACTORS}
    want = constraint_side + ("@" + ",".join(f"{k}={v}" for k, v in keep.items()) if keep else "")
    present = set(baselines)
    if want in present:
        return want
    # the same factors in another order
    for b in present:
        if b.partition("@")[0] == constraint_side and factors(b) == keep:
            return b
    return None
