"""``goaldrift detect``, ``goaldrift detectors score`` and ``goaldrift rescore``.

- ``detect PACK --repo DIR --base REV [--head REV]`` scores any change in any git repository with a
  pack's detectors: for researchers re-checking an agent's work outside a run, and a stable interface
  for outside labelled sets. The repository is only read: the head revision is exported to a
  temporary folder (``git archive``), never checked out in place.
- ``detectors score`` runs every detector of the built-in packs on the labelled corpus
  (``tests/detect/corpus``) and prints precision and recall per pack and detector.
- ``rescore --store PATH [--completion]`` re-runs today's detectors on every stored step (its commit is
  kept in the attempt's git directory) and records the new verdicts beside the old ones (table
  ``rescores``). The completion check (acceptance tests and the repository's suite, seconds per step in
  a sandbox) is re-run only with ``--completion``; otherwise its columns stay empty and the summary says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import tarfile
import tempfile
import time
from pathlib import Path

import typer
from rich.table import Table

from goaldrift.cli.common import console, print_json
from goaldrift.errors import BadInput, GoaldriftError

detectors_app = typer.Typer(help="Detector validity: score detectors on a labelled corpus.", no_args_is_help=True)
DEFAULT_CORPUS = Path("tests/detect/corpus")


def register(app: typer.Typer) -> None:
    app.add_typer(detectors_app, name="detectors")
    app.command("detect")(detect)
    app.command("rescore")(rescore)


# ---------------------------------------------------------------------------------------------- score
@detectors_app.command("score")
def score(
    corpus: Path = typer.Option(DEFAULT_CORPUS, "--corpus", help="Folder of corpus files (<pack>.yaml)."),
    pack: list[str] = typer.Option([], "--pack", help="Only these packs (repeatable)."),
    min_score: float = typer.Option(0.0, "--min", help="Exit 1 if a primary detector's (or the combined "
                                    "outcome's) precision or recall for violated or complied is below this."),
    show_errors: bool = typer.Option(False, "--errors", help="List the cases each detector gets wrong."),
    json_: bool = typer.Option(False, "--json", help="JSON output."),
) -> None:
    """Precision and recall of every detector of each pack on the labelled corpus."""
    from goaldrift import packs
    from goaldrift.corpus import COMBINED, JUDGED, load_corpus, score_pack

    if not corpus.is_dir():
        raise BadInput(f"--corpus {corpus}: not a folder (run from the repository root or pass --corpus)")
    files = sorted(corpus.glob("*.yaml"))
    corpora = [load_corpus(f) for f in files]
    corpora = [c for c in corpora if not pack or c.pack in pack]
    if not corpora:
        raise BadInput(f"--corpus {corpus}: no corpus file for {pack or 'any pack'}")
    rows, failing = [], []
    for cf in corpora:
        result = score_pack(packs.load(cf.pack), cf)
        for det_id, s in result.scores.items():
            row = {"pack": cf.pack, "detector": det_id, "kind": result.kinds[det_id],
                   "primary": det_id == result.primary, "cases": result.cases,
                   **{f"{m}_{o.value}": round(getattr(s, m)(o), 3) for o in JUDGED for m in ("precision", "recall")},
                   "errors": s.errors}
            rows.append(row)
            if det_id in (result.primary, COMBINED) and s.worst() < min_score:
                failing.append(f"{cf.pack}/{det_id}: worst precision/recall {s.worst():.3f} < {min_score}")
        rows.append({"pack": cf.pack, "best": result.best()})
    if json_:
        print_json(rows)
    else:
        table = Table(title=f"detectors on {corpus}")
        for col in ("pack", "detector", "kind", "cases", "P viol", "R viol", "P compl", "R compl"):
            table.add_column(col)
        for r in rows:
            if "best" in r:
                continue
            name = r["detector"] + (" *" if r["primary"] else "")
            table.add_row(r["pack"], name, r["kind"], str(r["cases"]),
                          *(f"{r[k]:.2f}" for k in ("precision_violated", "recall_violated",
                                                    "precision_complied", "recall_complied")))
        console.print(table)
        console.print("* primary detector; best per pack: "
                      + ", ".join(f"{r['pack']}: {r['best']}" for r in rows if "best" in r), highlight=False)
        if show_errors:
            for r in rows:
                for e in r.get("errors", []):
                    console.print(f"  {r['pack']}/{r['detector']}: {e}", highlight=False)
    if failing:
        for f in failing:
            console.print(f"[red]below --min:[/] {f}", highlight=False)
        raise typer.Exit(1)


# --------------------------------------------------------------------------------------------- detect
def _git(repo: Path, *args: str, binary: bool = False) -> str | bytes:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0"}
    proc = subprocess.run(["git", "-c", "core.hooksPath=/dev/null", "-c", "core.fsmonitor=false",
                           "-c", "core.quotePath=false", *args], cwd=repo, capture_output=True, env=env, check=False,
                          timeout=120)
    if proc.returncode != 0:
        raise BadInput(f"git {args[0]} in {repo}: {proc.stderr.decode(errors='replace').strip()[:300]}")
    return proc.stdout if binary else proc.stdout.decode("utf-8", errors="replace")


def _export_tree(repo: Path, rev: str, dest: Path) -> None:
    """The files of ``rev`` in ``dest`` (``git archive``: no checkout, no filters of the repository)."""
    data = _git(repo, "archive", "--format=tar", rev, binary=True)
    archive = dest.parent / "head.tar"
    archive.write_bytes(data)  # type: ignore[arg-type]
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    archive.unlink()


def detect(
    pack: str = typer.Argument(..., help="Pack id or path whose detectors to run."),
    repo: Path = typer.Option(..., "--repo", help="A git repository (work tree or bare)."),
    base: str = typer.Option(..., "--base", help="The revision before the change."),
    head: str = typer.Option("HEAD", "--head", help="The revision after the change."),
    side: str | None = typer.Option(None, "--side", help="Constraint side to judge (default: both)."),
    json_: bool = typer.Option(False, "--json", help="JSON output."),
) -> None:
    """Score the change BASE..HEAD of any git repository with a pack's detectors."""
    from goaldrift import packs
    from goaldrift.detect.diff import change_from_diff
    from goaldrift.detect.run import build_detectors, run_detectors

    scenario = packs.load(pack)
    if side is not None and side not in scenario.sides:
        raise BadInput(f"--side {side!r}: not a side of {scenario.id} ({', '.join(scenario.sides)})")
    if not repo.is_dir():
        raise BadInput(f"--repo {repo}: not a folder")
    for rev in (base, head):
        _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    diff = _git(repo, "diff", "--no-color", "--no-renames", "--no-ext-diff", "--no-textconv", "-U3", base, head)
    detectors, primary_id = build_detectors(scenario.spec)
    out = {"pack": scenario.id, "base": base, "head": head, "outcomes": {}, "detectors": {}}
    with tempfile.TemporaryDirectory(prefix="goaldrift-detect-") as tmp:
        tree = Path(tmp) / "tree"
        tree.mkdir()
        _export_tree(repo, head, tree)
        change = change_from_diff(tree, diff)  # type: ignore[arg-type]
        for s in [side] if side else list(scenario.sides):
            decided, results = run_detectors(detectors, primary_id, change, s)
            out["outcomes"][s] = {"outcome": decided.outcome.value, "detector": decided.detector,
                                  "evidence": [d.to_dict() for d in decided.evidence], "note": decided.note}
            out["detectors"][s] = [r.to_dict() for r in results]
    if json_:
        print_json(out)
        return
    for s, o in out["outcomes"].items():
        console.print(f"[bold]constraint {s}[/]: {o['outcome']} (decided by {o['detector']})", highlight=False)
        for d in o["evidence"]:
            console.print(f"  {d['side']:<12} {d['file']}:{d['line']}  {d['rule']}", highlight=False)
        for r in out["detectors"][s]:
            console.print(f"  detector {r['detector']}: {r['outcome']}", highlight=False)


# -------------------------------------------------------------------------------------------- rescore
_RESCORES = """
CREATE TABLE IF NOT EXISTS rescores (
  attempt_id INTEGER NOT NULL,
  step INTEGER NOT NULL,
  scored_at REAL NOT NULL,
  pack_hash TEXT NOT NULL,
  outcome TEXT NOT NULL,
  detector TEXT NOT NULL,
  detectors_json TEXT NOT NULL,
  completion TEXT,
  suite TEXT,
  completion_output TEXT,
  PRIMARY KEY (attempt_id, step, scored_at)
)"""
_RESCORE_COMPLETION = ("completion", "suite", "completion_output")  # added to tables an older goaldrift made


def rescore(
    store: Path = typer.Option(..., "--store", help="A results store (sqlite file)."),
    completion: bool = typer.Option(False, "--completion",
                                    help="Also re-run each step's completion check (today's acceptance tests and "
                                         "the repository's suite, sandboxed; seconds per step)."),
) -> None:
    """Re-run today's detectors on every stored step and record the verdicts beside the old ones."""
    import sqlite3

    from goaldrift import packs
    from goaldrift.completion import check_commit
    from goaldrift.detect.diff import change_from_diff
    from goaldrift.detect.run import build_detectors, run_detectors

    if not store.is_file():
        raise BadInput(f"--store {store}: no such file")
    db = sqlite3.connect(store)
    db.row_factory = sqlite3.Row
    try:
        # a store from before the completion check has no such column: its steps were not checked
        stored = "s.completion" if "completion" in {r[1] for r in db.execute("PRAGMA table_info(steps)")} \
            else "'not_run' AS completion"
        rows = db.execute(
            f"""SELECT s.attempt_id, s.step, s.commit_sha, s.outcome, {stored}, a.info_json, r.scenario_id,
                       r.constraint_side
                FROM steps s JOIN attempts a USING (attempt_id) JOIN runs r USING (run_id)
                WHERE s.commit_sha IS NOT NULL ORDER BY s.attempt_id, s.step""").fetchall()
    except sqlite3.Error as exc:
        raise BadInput(f"--store {store}: not a goaldrift store ({exc})") from None
    db.execute(_RESCORES)
    have = {r[1] for r in db.execute("PRAGMA table_info(rescores)")}
    for column in _RESCORE_COMPLETION:
        if column not in have:
            db.execute(f"ALTER TABLE rescores ADD COLUMN {column} TEXT")
    now, changed, done, skipped = time.time(), 0, 0, []
    completion_changed = 0
    built: dict[str, tuple] = {}
    for row in rows:
        info = json.loads(row["info_json"] or "{}")
        workspace = info.get("workspace")
        constraint = row["constraint_side"]
        git_dir = Path(workspace).parent / "git" if workspace else None
        if git_dir is None or not git_dir.is_dir() or constraint is None:
            skipped.append(f"attempt {row['attempt_id']} step {row['step']}: git directory not found")
            continue
        if row["scenario_id"] not in built:
            sc = packs.load(row["scenario_id"])
            built[row["scenario_id"]] = (sc, *build_detectors(sc.spec))
        scenario, detectors, primary_id = built[row["scenario_id"]]
        sha = row["commit_sha"]
        with tempfile.TemporaryDirectory(prefix="goaldrift-rescore-") as tmp:
            tree = Path(tmp) / "tree"
            tree.mkdir()
            try:
                _export_tree(git_dir, sha, tree)
                diff = _git(git_dir, "diff", "--no-color", "--no-renames", "--no-ext-diff", "--no-textconv",
                            "-U3", f"{sha}^", sha)
            except GoaldriftError as exc:
                skipped.append(f"attempt {row['attempt_id']} step {row['step']}: {exc}")
                continue
            primary, results = run_detectors(detectors, primary_id, change_from_diff(tree, diff), constraint)  # type: ignore[arg-type]
        checked = check_commit(git_dir, sha, scenario.acceptance(row["step"])) if completion else None
        db.execute("INSERT INTO rescores (attempt_id, step, scored_at, pack_hash, outcome, detector, detectors_json, "
                   "completion, suite, completion_output) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (row["attempt_id"], row["step"], now, scenario.digest, primary.outcome.value, primary.detector,
                    json.dumps([r.to_dict() for r in results]),
                    *((checked.status.value, checked.suite.value,
                       json.dumps({"acceptance": checked.output, "suite": checked.suite_output}))
                      if checked else (None, None, None))))
        done += 1
        changed += primary.outcome.value != row["outcome"]
        completion_changed += bool(checked) and checked.status.value != row["completion"]
    db.commit()
    db.close()
    checks = (f"{completion_changed} changed completion" if completion
              else "completion not re-checked (add --completion)")
    console.print(f"rescored {done} step(s); {changed} changed outcome; {checks}; {len(skipped)} skipped",
                  highlight=False)
    for s in skipped[:20]:
        console.print(f"  skipped {s}", highlight=False)
