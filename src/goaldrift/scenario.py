"""Scenario packs: the data that defines one value conflict.

A scenario is a folder, not code::

    my-pack/
      scenario.yaml          # this module's ``ScenarioFile``
      template/              # the repository the agent works in (copied per run)
      references/            # per step and value side, a reference change (``ReferenceChange``)

``scenario.yaml`` names two values (the sides of the trade-off), the constraint text for each side
(what goes into AGENTS.md), pressure comments toward each side, 12 feature requests, and detectors.
A detector classifies every *decision* it finds in a step's changed code as favouring one side; the
run's outcome follows from the side its constraint favours (see ``goaldrift.detect``). This keeps one
detector valid for both constraint directions of the 2×2 design.

Loading never raises half-way: every problem is collected with its file, field and reason, and
``ScenarioError`` carries them all.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from goaldrift.errors import ScenarioError

SCENARIO_FILE = "scenario.yaml"
_ID = r"^[a-z][a-z0-9_-]{0,62}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ValueSide(_Strict):
    """One side of the trade-off, with the constraint that favours it."""

    id: str = Field(pattern=_ID, description="short id used in condition names, e.g. 'privacy'")
    label: str = Field(min_length=1, description="human label, e.g. 'Privacy'")
    constraint: str = Field(min_length=10, description="the rule placed in AGENTS.md when this side is favoured")


class PressureComment(_Strict):
    """A comment placed in the template that argues for one side.

    It is inserted above the first line of ``file`` matching ``anchor`` (a regex, matched line by
    line), indented like that line; without an anchor it goes at the top of the file. ``text`` carries its own comment markers,
    so any language works.
    """

    file: str = Field(min_length=1)
    anchor: str | None = None
    text: str = Field(min_length=1)

    @field_validator("anchor")
    @classmethod
    def _anchor_compiles(cls, v: str | None) -> str | None:
        if v is not None:
            re.compile(v)
        return v


class Step(_Strict):
    """One feature request. ``reference`` maps each value side to a reference-change file."""

    title: str = Field(min_length=1)
    prompt: str = Field(min_length=10)
    reference: dict[str, str]


class DetectorSpec(_Strict):
    """A detector instance: a registered ``kind`` plus its parameters (validated by the kind)."""

    id: str = Field(pattern=_ID)
    kind: str = Field(min_length=1)
    primary: bool = False
    params: dict[str, Any] = Field(default_factory=dict)
    exclude: list[str] = Field(
        default_factory=list,
        description="fnmatch globs of paths the detector never sees (e.g. 'tests/*': an agent's fake "
        "credentials or raw-mode calls in its own tests are not decisions)",
    )


class ScenarioFile(_Strict):
    """The schema of ``scenario.yaml``."""

    id: str = Field(pattern=_ID)
    title: str = Field(min_length=1)
    description: str = ""
    values: tuple[ValueSide, ValueSide]
    expected_stronger: str | None = Field(
        default=None,
        description="the value side a model is expected to hold more strongly (e.g. 'privacy'); the "
        "analysis orients asymmetries by it. Default: the side listed second in values",
    )
    template: str = "template"
    agents_md: str = Field(
        default="",
        description="project notes that precede the constraint in AGENTS.md (the constraint is appended)",
    )
    pressure: dict[str, list[PressureComment]] = Field(
        description="value side -> comments that argue for that side"
    )
    steps: list[Step] = Field(min_length=1)
    detectors: list[DetectorSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _cross_check(self) -> ScenarioFile:
        sides = {v.id for v in self.values}
        if len(sides) != 2:
            raise ValueError("values: the two sides need different ids")
        if self.expected_stronger is not None and self.expected_stronger not in sides:
            raise ValueError(f"expected_stronger: unknown value side {self.expected_stronger!r} "
                             f"(expected one of {sorted(sides)})")
        for side in self.pressure:
            if side not in sides:
                raise ValueError(f"pressure: unknown value side {side!r} (expected one of {sorted(sides)})")
        for i, step in enumerate(self.steps, 1):
            if set(step.reference) != sides:
                raise ValueError(f"steps[{i}].reference: needs exactly one file per side {sorted(sides)}")
        ids = [d.id for d in self.detectors]
        if len(set(ids)) != len(ids):
            raise ValueError("detectors: ids must be unique")
        if sum(d.primary for d in self.detectors) != 1:
            raise ValueError("detectors: exactly one detector must have 'primary: true'")
        return self


class WriteOp(_Strict):
    """Create or overwrite a file."""

    op: Literal["write"]
    path: str
    content: str


class EditOp(_Strict):
    """Replace ``old`` (which must occur exactly once) with ``new``."""

    op: Literal["edit"]
    path: str
    old: str = Field(min_length=1)
    new: str


class ReferenceChange(_Strict):
    """A reference solution of one step for one value side. The scripted model replays its ops."""

    summary: str = ""
    ops: list[WriteOp | EditOp] = Field(min_length=1)


@dataclass(frozen=True)
class Scenario:
    """A loaded, validated scenario pack."""

    root: Path
    spec: ScenarioFile
    references: dict[tuple[int, str], ReferenceChange]  # (step number from 1, side) -> change
    digest: str  # sha256 over every file of the pack: recorded per run

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def sides(self) -> tuple[str, str]:
        return (self.spec.values[0].id, self.spec.values[1].id)

    @property
    def expected_stronger(self) -> str:
        """The side the analysis orients asymmetries toward (declared, else the second listed)."""
        return self.spec.expected_stronger or self.sides[1]

    @property
    def template_dir(self) -> Path:
        return self.root / self.spec.template

    def value(self, side: str) -> ValueSide:
        for v in self.spec.values:
            if v.id == side:
                return v
        raise KeyError(side)

    def other(self, side: str) -> str:
        a, b = self.sides
        return b if side == a else a

    def reference(self, step: int, side: str) -> ReferenceChange:
        return self.references[(step, side)]


def _pydantic_problems(file: str, err: ValidationError) -> list[tuple[str, str, str]]:
    out = []
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        out.append((file, loc, e["msg"]))
    return out


def _read_yaml(path: Path, problems: list[tuple[str, str, str]]) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append((str(path), "(file)", "file not found"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        problems.append((str(path), "(file)", f"not valid YAML: {exc}".replace("\n", " ")))
    return None


def pack_digest(root: Path) -> str:
    """sha256 over the relative path and bytes of every file in the pack (stable across machines)."""
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc":
            h.update(p.relative_to(root).as_posix().encode() + b"\0")
            h.update(p.read_bytes())
    return h.hexdigest()


def load_scenario(root: Path) -> Scenario:
    """Load and structurally validate a pack; raise ``ScenarioError`` listing every problem.

    Deep checks (references apply in sequence, detectors classify them, template tests pass) live in
    ``goaldrift.scenario_check`` because they need the workspace and detectors.
    """
    root = Path(root)
    if root.is_file() and root.name == SCENARIO_FILE:
        root = root.parent
    problems: list[tuple[str, str, str]] = []
    file = root / SCENARIO_FILE
    raw = _read_yaml(file, problems)
    if problems:
        raise ScenarioError(problems)
    try:
        spec = ScenarioFile.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(_pydantic_problems(str(file), exc)) from None

    if not (root / spec.template).is_dir():
        problems.append((str(file), "template", f"folder {spec.template!r} not found in {root}"))
    refs: dict[tuple[int, str], ReferenceChange] = {}
    for i, step in enumerate(spec.steps, 1):
        for side, rel in step.reference.items():
            ref_path = root / rel
            data = _read_yaml(ref_path, problems)
            if data is None:
                if ref_path.exists():
                    continue
                problems.append((str(file), f"steps.{i}.reference.{side}", f"file {rel!r} not found"))
                continue
            try:
                refs[(i, side)] = ReferenceChange.model_validate(data)
            except ValidationError as exc:
                problems.extend(_pydantic_problems(str(ref_path), exc))
    template = root / spec.template
    if template.is_dir():
        for side, comments in spec.pressure.items():
            for j, c in enumerate(comments):
                target = template / c.file
                field = f"pressure.{side}.{j}"
                if not target.is_file():
                    problems.append((str(file), field + ".file", f"{c.file!r} is not a file of the template"))
                elif c.anchor and not any(re.search(c.anchor, line)
                                          for line in target.read_text(encoding="utf-8").splitlines()):
                    problems.append((str(file), field + ".anchor", f"{c.anchor!r} matches no line of {c.file}"))
    from goaldrift.detect import registry  # local import: detectors import scenario types

    for j, d in enumerate(spec.detectors):
        try:
            registry.build(d, spec)
        except (KeyError, ValueError, ValidationError) as exc:
            problems.append((str(file), f"detectors.{j}({d.id})", str(exc).replace("\n", " ")))
    if problems:
        raise ScenarioError(problems)
    return Scenario(root=root, spec=spec, references=refs, digest=pack_digest(root))
