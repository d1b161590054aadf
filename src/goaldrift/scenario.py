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

A pack is untrusted input (see ``goaldrift.packfiles``): its paths stay inside its root, its files
are read no-follow and size-capped, their YAML is parsed by ``goaldrift.yamlfile`` (duplicate keys
and alias bombs are refused), and pressure anchors are compiled with RE2, whose matching time is
linear in the line length, so no anchor can make loading or a run backtrack for minutes.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import re2
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from goaldrift import yamlfile
from goaldrift.completion import AcceptanceTests, CheckCommands
from goaldrift.detect import registry
from goaldrift.detect.spec import DetectorSpec
from goaldrift.errors import ScenarioError, validation_problems
from goaldrift.packfiles import MAX_FILE_BYTES as MAX_TEXT_BYTES
from goaldrift.packfiles import path_problem, read_text, scan_pack, template_problems

SCENARIO_FILE = "scenario.yaml"
_ID = r"^[a-z][a-z0-9_-]{0,62}$"
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False


def compile_anchor(pattern: str) -> re2._Regexp:
    """An anchor regex compiled with RE2 (linear time); ``ValueError`` saying why it is refused."""
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ValueError(f"anchor {pattern!r} is not a regex RE2 accepts ({reason}); anchors use RE2 syntax, "
                         "which has no backreferences or lookarounds") from None


def step_field(step: int) -> str:
    """The field path of step ``step`` (counted from 1): the list index the schema counts from 0, with
    the step number beside it, so every message names a step the same way (``steps.0(step 1)``)."""
    return f"steps.{step - 1}(step {step})"


class FieldProblems(ValueError):
    """Problems a check across fields found, each with its own field; pydantic would report a model
    validator's error at the top level, so ``_pydantic_problems`` unpacks these."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{field}: {reason}" for field, reason in problems))


def _relative(v: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in v):  # a NUL would reach os.* as a ValueError traceback
        raise ValueError(f"{v!r} contains a control character (a NUL, a line break...): use a plain relative path")
    p = PurePosixPath(v)
    if p.is_absolute() or ".." in p.parts or not p.parts:
        raise ValueError(f"{v!r} must be a relative path that stays inside the pack (no leading '/', no '..')")
    return v


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
            compile_anchor(v)
        return v

    @field_validator("file")
    @classmethod
    def _file_inside(cls, v: str) -> str:
        return _relative(v)


class ChannelTexts(_Strict):
    """The pressure toward one side through the channels beside code comments (``goaldrift.channels``).

    ``docs`` and ``test_output`` are files placed in the workspace like comments (above ``anchor``,
    at the top without one; a file the template lacks is created with the text); ``ticket`` is added
    to every step's request from the onset on; ``review`` is a reviewer's message about the previous
    change, delivered at the start of the step's user turn.
    """

    docs: list[PressureComment] = Field(default_factory=list, description="README/CONTRIBUTING/design-note text")
    ticket: str | None = Field(default=None, min_length=10, description="added to each step's request")
    review: str | None = Field(default=None, min_length=10, description="a reviewer's message between steps")
    test_output: list[PressureComment] = Field(
        default_factory=list, description="a test file whose warning or failure message argues for this side")


class Step(_Strict):
    """One feature request. ``reference`` maps each value side to a reference-change file;
    ``acceptance`` names the step's hidden acceptance tests (a pytest file of the pack, outside the
    template, never shown to the agent; see ``goaldrift.completion``)."""

    title: str = Field(min_length=1)
    prompt: str = Field(min_length=10)
    reference: dict[str, str]
    acceptance: str | None = Field(
        default=None, description="test file (relative to the pack root) that checks the step's feature "
        "works whichever side the agent chose: a pytest file, or one `tests.acceptance` runs; the files "
        "of its folder with the same suffix are shipped with it")

    @field_validator("reference")
    @classmethod
    def _references_inside(cls, v: dict[str, str]) -> dict[str, str]:
        for rel in v.values():
            _relative(rel)
        return v

    @field_validator("acceptance")
    @classmethod
    def _acceptance_inside(cls, v: str | None) -> str | None:
        if v is not None:
            _relative(v)
        return v


class PackTests(_Strict):
    """How the pack's tests run when they are not pytest (a TypeScript template, say). Each command is
    a shell command run with ``/bin/sh -c`` in the repository, sandboxed; exit code 0 means passed."""

    toolchain: str | None = Field(
        default=None, description="a pinned toolchain the commands need (`typescript`), installed with "
        "`goaldrift install-toolchain NAME` and visible read-only, its bin folder first on PATH, to the "
        "tests and to the agent's own commands")
    suite: str | None = Field(default=None, min_length=1, description="runs the template's own test suite; "
                              "default: pytest")
    acceptance: str | None = Field(
        default=None, min_length=1, description="runs one step's acceptance tests; `{file}` is replaced "
        "by the acceptance file's path (its folder sits beside the checkout: the tests reach the "
        "project at `../repo/`); default: pytest")

    @field_validator("toolchain")
    @classmethod
    def _known_toolchain(cls, v: str | None) -> str | None:
        from goaldrift.toolchains import TOOLCHAINS

        if v is not None and v not in TOOLCHAINS:
            raise ValueError(f"unknown toolchain {v!r}; known: {', '.join(TOOLCHAINS)}")
        return v

    @field_validator("acceptance")
    @classmethod
    def _names_file(cls, v: str | None) -> str | None:
        if v is not None and "{file}" not in v:
            raise ValueError("the acceptance command must contain {file} (the acceptance test file's path)")
        return v


class SnapshotRules(_Strict):
    """What every step's snapshot leaves out besides goaldrift's fixed cache folders (``__pycache__``,
    ``node_modules``, ``.venv`` …): the folders a build writes (``dist/``). The snapshot reads the
    work tree itself and treats ``.gitignore`` as a plain file, so without this a TypeScript build's
    output would enter every step's commit and diff. Each folder left out is recorded as an event of
    the step, so nothing disappears silently."""

    ignore: tuple[str, ...] = Field(
        default=(), description="folders to leave out of every snapshot, relative to the repository root "
        "and written with a trailing '/' (`dist/`, `build/out/`); no globs, and none may exist in the "
        "template (only output the steps create can be left out)")

    @field_validator("ignore")
    @classmethod
    def _folders(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for entry in v:
            if not entry.endswith("/"):
                raise ValueError(f"{entry!r}: name a folder, with a trailing '/' (e.g. 'dist/')")
            if any(ch in entry for ch in "*?[]\\"):
                raise ValueError(f"{entry!r}: no globs or backslashes; name the folder itself (e.g. 'dist/')")
            _relative(entry)
            if PurePosixPath(entry).as_posix() + "/" != entry:
                raise ValueError(f"{entry!r}: write the folder's plain path, without '.', '//' or a leading './'")
        if len(set(v)) != len(v):
            raise ValueError("each folder may be listed once")
        return v

    def covers(self, rel: str) -> bool:
        """Whether the repository path ``rel`` lies in an ignored folder."""
        return any(f"{rel}/".startswith(entry) for entry in self.ignore)


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
    channels: dict[str, ChannelTexts] = Field(
        default_factory=dict, description="value side -> pressure toward it through docs, ticket, review and "
        "test_output (the comments channel is `pressure`)")
    steps: list[Step] = Field(min_length=1)
    detectors: list[DetectorSpec] = Field(min_length=1)
    tests: PackTests = Field(default_factory=PackTests, description="how the template's suite and the "
                             "acceptance tests run (default: pytest)")
    snapshot: SnapshotRules = Field(default_factory=SnapshotRules, description="what step snapshots leave "
                                    "out (build output)")

    @property
    def stronger_side(self) -> str:
        """The side the analysis orients asymmetries toward (declared, else the second listed)."""
        return self.expected_stronger or self.values[1].id

    @field_validator("template")
    @classmethod
    def _template_inside(cls, v: str) -> str:
        return _relative(v)

    @model_validator(mode="after")
    def _cross_check(self) -> ScenarioFile:
        sides = {v.id for v in self.values}
        known = f"(the value sides are {', '.join(sorted(sides))})"
        problems: list[tuple[str, str]] = []
        if len(sides) != 2:
            problems.append(("values", "the two sides need different ids"))
        if self.expected_stronger is not None and self.expected_stronger not in sides:
            problems.append(("expected_stronger", f"unknown value side {self.expected_stronger!r} {known}"))
        for key in ("pressure", "channels"):
            for side in getattr(self, key):
                if side not in sides:
                    problems.append((f"{key}.{side}", f"unknown value side {side!r} {known}"))
        for i, step in enumerate(self.steps, 1):
            unknown, missing = sorted(set(step.reference) - sides), sorted(sides - set(step.reference))
            if unknown or missing:
                what = [f"unknown side {s!r}" for s in unknown] + [f"no file for side {s!r}" for s in missing]
                problems.append((f"{step_field(i)}.reference", f"{'; '.join(what)}: give one file per side {known}"))
        ids = [d.id for d in self.detectors]
        if len(set(ids)) != len(ids):
            problems.append(("detectors", "ids must be unique"))
        if (n := sum(d.primary for d in self.detectors)) != 1:
            problems.append(("detectors", f"exactly one detector must have 'primary: true' (found {n})"))
        if problems:
            raise FieldProblems(problems)
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
    # tagged by `op`: an unknown op is one error naming it, not one per member of the union
    ops: list[Annotated[WriteOp | EditOp, Field(discriminator="op")]] = Field(min_length=1)


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
        return self.spec.stronger_side

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

    @property
    def test_commands(self) -> CheckCommands:
        t = self.spec.tests
        return CheckCommands(suite=t.suite, acceptance=t.acceptance, toolchain=t.toolchain)

    def acceptance(self, step: int) -> AcceptanceTests | None:
        """Step ``step``'s (from 1) acceptance tests, or None if the pack has none for it."""
        rel = self.spec.steps[step - 1].acceptance
        if rel is None:
            return None
        path = PurePosixPath(rel)
        return AcceptanceTests(self.root.joinpath(*path.parent.parts), path.name)


# Where each key of a pack belongs, for "unknown key" errors: the common mistake is a key one level off
# (``exclude`` under a detector's ``params`` instead of on the entry), and pydantic alone says only
# "Extra inputs are not permitted".
_KEY_HOMES = {
    **dict.fromkeys(("id", "kind", "primary", "params", "exclude"), "on a detector entry (beside `kind` and "
                    "`params`, not under `params`)"),
    **dict.fromkeys(("title", "prompt", "reference"), "on a step (an entry of `steps`)"),
    "acceptance": "on a step (an entry of `steps`), or under `tests` (the command)",
    **dict.fromkeys(("file", "anchor", "text"), "on a pressure entry (`pressure.<side>[]`, or "
                    "`channels.<side>.docs[]` / `.test_output[]`)"),
    **dict.fromkeys(("docs", "ticket", "review", "test_output"), "under `channels.<side>`"),
    **dict.fromkeys(("label", "constraint"), "on an entry of `values`"),
    **dict.fromkeys(("values", "expected_stronger", "template", "agents_md", "pressure", "channels", "steps",
                     "detectors", "description", "tests"), "at the top level of scenario.yaml"),
    **dict.fromkeys(("toolchain", "suite"), "under `tests`"),
    **dict.fromkeys(("summary", "ops"), "at the top level of a reference file"),
    **dict.fromkeys(("op", "path", "content", "old", "new"), "on an op of a reference file (`ops[]`)"),
}


def unknown_key(key: str) -> str:
    """The reason for an unknown key: what to do, and where the key belongs if it is one of ours."""
    home = _KEY_HOMES.get(key)
    if home:
        return f"unknown key {key!r} here: `{key}` belongs {home}"
    near = difflib.get_close_matches(key, list(_KEY_HOMES), n=1)
    return f"unknown key {key!r}" + (f": did you mean {near[0]!r}?" if near else "; remove it or check its spelling")


def _pydantic_problems(file: str, err: ValidationError, prefix: str = "") -> list[tuple[str, str, str]]:
    out = []
    for e, (loc, msg) in zip(err.errors(), validation_problems(err, prefix)):
        cause = e.get("ctx", {}).get("error")
        if isinstance(cause, FieldProblems):
            out.extend((file, ".".join(filter(None, (prefix, field))), reason) for field, reason in cause.problems)
            continue
        if not prefix and len(e["loc"]) > 1 and e["loc"][0] == "steps" and isinstance(e["loc"][1], int):
            loc = ".".join((step_field(e["loc"][1] + 1), *map(str, e["loc"][2:])))
        if e["type"] == "extra_forbidden" and e["loc"]:
            msg = unknown_key(str(e["loc"][-1]))
        elif e["type"] in ("union_tag_invalid", "union_tag_not_found") and loc.startswith("ops."):
            loc += ".op"
            msg = ((f"unknown op {e['ctx']['tag']!r}; " if e["type"] == "union_tag_invalid" else "missing; ")
                   + "use `op: write` (path, content) or `op: edit` (path, old, new)")
        elif e["type"] == "string_pattern_mismatch" and e.get("ctx", {}).get("pattern") == _ID:
            msg = (f"{e['input']!r} is not an id: start with a lowercase letter, then only lowercase letters, "
                   "digits, '-' and '_'")
        out.append((file, loc, msg))
    return out


def _read_yaml(root: Path, rel: str, problems: list[tuple[str, str, str]],
               missing: tuple[str, str, str] | None = None) -> Any:
    """A YAML file of the pack (``packfiles.read_text`` rules, ``yamlfile.parse`` bounds), or None with
    the problem recorded (``missing`` is the problem to record when the file does not exist)."""
    path = str(root / rel)
    try:
        return yamlfile.parse(read_text(root, rel))
    except FileNotFoundError:
        problems.append(missing or (path, "(file)", "file not found"))
    except UnicodeDecodeError as exc:
        problems.append((path, "(file)", f"not UTF-8 text (byte {exc.start}): save the file as UTF-8"))
    except (ValueError, OSError) as exc:  # yamlfile.YamlProblem is a ValueError
        problems.append((path, "(file)", str(exc)))
    return None


def _pack_root(root: Path) -> Path:
    root = Path(root)
    if root.is_file() and root.name == SCENARIO_FILE:
        root = root.parent
    return root.resolve()  # the pack may be reached through a symlink; nothing inside it is followed out


def load_spec(root: Path) -> ScenarioFile:
    """Only a pack's validated ``scenario.yaml`` (no references, template or digest): for readers
    that need one declared field, such as the report's ``expected_stronger``."""
    root = _pack_root(root)
    problems: list[tuple[str, str, str]] = []
    raw = _read_yaml(root, SCENARIO_FILE, problems, missing=(
        str(root / SCENARIO_FILE), "(file)",
        "not found: a pack is a folder with scenario.yaml (`goaldrift scenarios new NAME` writes one)"))
    if problems:
        raise ScenarioError(problems)
    try:
        return ScenarioFile.model_validate(raw)
    except ValidationError as exc:
        raise ScenarioError(_pydantic_problems(str(root / SCENARIO_FILE), exc)) from None


def load_scenario(root: Path) -> Scenario:
    """Load and structurally validate a pack; raise ``ScenarioError`` listing every problem.

    Deep checks (references apply in sequence, detectors classify them, template tests pass) live in
    ``goaldrift.scenario_check`` because they need the workspace and detectors.
    """
    root = _pack_root(root)
    file = root / SCENARIO_FILE
    spec = load_spec(root)
    problems: list[tuple[str, str, str]] = []

    digest, pack_file_problems = scan_pack(root)
    problems.extend(pack_file_problems)
    template = root / spec.template
    template_ok = False
    if template.is_symlink():
        problems.append((str(file), "template", (f"{spec.template!r} is a symlink (templates are copied "
                                                 "without following links): make it a folder")))
    elif why := path_problem(root, spec.template):
        problems.append((str(file), "template", why))
    elif not template.is_dir():
        problems.append((str(file), "template", f"folder {spec.template!r} not found in {root}"))
    else:
        template_ok = True
        problems.extend(template_problems(template))
    refs: dict[tuple[int, str], ReferenceChange] = {}
    for i, step in enumerate(spec.steps, 1):
        for side, rel in step.reference.items():
            data = _read_yaml(root, rel, problems,
                              missing=(str(file), f"{step_field(i)}.reference.{side}", f"file {rel!r} not found"))
            if data is None:
                continue
            try:
                refs[(i, side)] = ReferenceChange.model_validate(data)
            except ValidationError as exc:
                problems.extend(_pydantic_problems(str(root / rel), exc))
        if step.acceptance is not None:
            field = f"{step_field(i)}.acceptance"
            if why := path_problem(root, step.acceptance):
                problems.append((str(file), field, why))
            elif spec.tests.acceptance is None and not step.acceptance.endswith(".py"):
                problems.append((str(file), field, (f"{step.acceptance!r} must be a pytest file (*.py), or set "
                                                    "tests.acceptance to the command that runs it")))
            elif not (root / step.acceptance).is_file():
                problems.append((str(file), field, f"file {step.acceptance!r} not found in {root}"))
            elif template_ok and (root / step.acceptance).resolve().is_relative_to(template.resolve()):
                problems.append((str(file), field, f"{step.acceptance!r} is inside the template, so the agent "
                                 "would see it: keep acceptance tests outside the template folder"))
    if template_ok:
        placed = [(f"pressure.{side}.{j}", c, False) for side, comments in spec.pressure.items()
                  for j, c in enumerate(comments)]
        placed += [(f"channels.{side}.{ch}.{j}", c, True) for side, texts in spec.channels.items()
                   for ch in ("docs", "test_output") for j, c in enumerate(getattr(texts, ch))]
        for entry in spec.snapshot.ignore:
            if (template / entry).exists() or (template / entry.rstrip("/")).is_symlink():
                problems.append((str(file), "snapshot.ignore", (
                    f"{entry!r} exists in the template: only output the steps create can be left out of "
                    "snapshots (the template is the baseline every step's diff starts from)")))
        for field, c, may_create in placed:
            if spec.snapshot.covers(c.file):
                problems.append((str(file), field + ".file", (f"{c.file!r} is in a folder listed in "
                                 "snapshot.ignore, so no snapshot would hold it: place it elsewhere")))
                continue
            if may_create and c.anchor is None and not (template / c.file).exists():
                continue  # created in the workspace; its path is checked when it is written
            try:
                text = read_text(template, c.file, MAX_TEXT_BYTES)
            except (FileNotFoundError, ValueError, OSError, UnicodeDecodeError) as exc:
                reason = "not found" if isinstance(exc, FileNotFoundError) else str(exc)
                hint = " (a new file takes no anchor)" if may_create and isinstance(exc, FileNotFoundError) else ""
                problems.append((str(file), field + ".file",
                                 f"{c.file!r} is not a file of the template: {reason}{hint}"))
                continue
            if c.anchor and not any(compile_anchor(c.anchor).search(line) for line in text.splitlines()):
                problems.append((str(file), field + ".anchor", f"{c.anchor!r} matches no line of {c.file}"))
    sides = [v.id for v in spec.values]
    for j, d in enumerate(spec.detectors):
        try:
            registry.build(d, sides)
        except (KeyError, ValueError, ValidationError) as exc:
            if isinstance(cause := exc if isinstance(exc, ValidationError) else exc.__cause__, ValidationError):
                # the kind's params model: one problem per field, with where a misplaced key belongs
                problems.extend(_pydantic_problems(str(file), cause, f"detectors.{j}({d.id}).params"))
                continue
            if isinstance(exc, KeyError):  # an unknown kind: its message is the KeyError's argument
                problems.append((str(file), f"detectors.{j}({d.id}).kind", str(exc.args[0])))
                continue
            problems.append((str(file), f"detectors.{j}({d.id})", str(exc).replace("\n", " ")))
    if problems:
        raise ScenarioError(list(dict.fromkeys(problems)))  # the pack scan and the template walk can agree
    return Scenario(root=root, spec=spec, references=refs, digest=digest)
