"""The results store: one SQLite file (WAL) per experiment series.

Why SQLite: a finished step must survive ``kill -9`` of the runner, and a reader (status, report,
viewer) must be able to look while a run writes. WAL gives both with one file and no server.

Tables (schema version in ``meta``):

- ``experiments`` — the config, its hash, goaldrift version and git revision.
- ``runs`` — one row per planned run spec (model × scenario × condition × repeat), stable ``run_id``.
- ``attempts`` — each try of a run; a run restarted after a crash keeps its partial attempt, marked
  ``aborted`` and excluded from results; ``goaldrift rerun`` marks the attempts it replaces
  ``superseded``. Only a ``finished`` attempt counts.
- ``steps`` — one row per finished step of an attempt, written in one transaction.
- ``model_calls`` — every request/response through the gateway (bodies zlib-compressed JSON).
- ``judgements`` — LLM-judge verdicts on stored steps.
- ``labels`` — a researcher's manual label of a step (``goaldrift view``), the gold standard for
  agreement. Added after v1 without a version bump: it is additive, created on open when missing.

Large blobs (diffs, traces, request bodies) are zlib-compressed; ``blob``/``unblob`` convert.

Each store has a random ``store_id`` (in ``meta``), and its workspaces live in a folder named after
the store file and that id (``workspaces_dir``): two stores in one folder never share workspaces, and
a store deleted "to start over" leaves its old workspaces behind without colliding with the new one's.

Which attempt counts — one rule for every reader (``results``, export, report, judge, agreement):
the ``counted_attempts`` view picks, per run, its **latest finished attempt**; a run that has none
but whose agent failed counts its **latest failed attempt** (the steps it completed are real
observations; the analysis censors the run after its last decided step instead of dropping it).
Aborted attempts (the runner stopped; the run is retried) never count. ``step_results`` is the
steps of counted attempts with their run's attributes. Both views are stored in new stores (for
other tools) and created as TEMP views on every connection goaldrift opens, which shadow the stored
ones, so a store written by an older goaldrift is read by today's rule.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import sqlite3
import time
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from goaldrift.errors import DiskFull, StoreError, UnusableStore
from goaldrift.gateway.record import CallRecord
from goaldrift.outputs import check_output

if TYPE_CHECKING:
    from goaldrift.step_result import StepResult

SCHEMA_VERSION = 1
DEFAULT_FILE = "store.db"

LABELS_SCHEMA = """
CREATE TABLE IF NOT EXISTS labels (
  attempt_id INTEGER NOT NULL,
  step INTEGER NOT NULL,
  outcome TEXT NOT NULL,                   -- violated | complied | not_applicable
  note TEXT NOT NULL DEFAULT '',
  created_at REAL NOT NULL,
  PRIMARY KEY (attempt_id, step)
);"""
LABEL_OUTCOMES = ("violated", "complied", "not_applicable")


COUNTED_ATTEMPTS_SQL = """
  SELECT run_id, attempt_id, status FROM (
    SELECT run_id, attempt_id, status,
           ROW_NUMBER() OVER (PARTITION BY run_id ORDER BY status = 'finished' DESC, attempt_id DESC) AS pick
    FROM attempts WHERE status IN ('finished', 'failed'))
  WHERE pick = 1"""

STEP_RESULTS_SQL = """
  SELECT r.experiment_id, r.run_id, r.model_id, r.scenario_id, r.condition, r.constraint_side,
         r.pressure_side, r.placement, r.repeat, r.harness, a.attempt_id, a.status AS attempt_status, s.step,
         s.outcome, s.detector, s.evidence_json, s.detectors_json, s.tokens_in, s.tokens_out, s.context_tokens,
         s.tool_calls, s.compacted, s.duration_s, s.error, s.lines_added, s.files_changed, {completion}
  FROM steps s JOIN counted_attempts a ON a.attempt_id = s.attempt_id JOIN runs r ON r.run_id = a.run_id"""


COMPLETION_COLUMNS = "s.completion, s.suite, s.completion_s, s.channel"
# A store opened read-only before it gained these columns reads them as "not run" and no channel.
COMPLETION_DEFAULTS = "'not_run' AS completion, 'not_run' AS suite, 0.0 AS completion_s, NULL AS channel"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS experiments (
  experiment_id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  config_json TEXT NOT NULL,
  config_hash TEXT NOT NULL,
  goaldrift_version TEXT NOT NULL,
  git_revision TEXT,
  created_at REAL NOT NULL,
  updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
  run_id TEXT PRIMARY KEY,
  experiment_id TEXT NOT NULL REFERENCES experiments(experiment_id),
  model_id TEXT NOT NULL,
  scenario_id TEXT NOT NULL,
  condition TEXT NOT NULL,
  constraint_side TEXT NOT NULL,
  pressure_side TEXT,
  placement TEXT NOT NULL,
  repeat INTEGER NOT NULL,
  n_steps INTEGER NOT NULL,
  harness TEXT NOT NULL,
  scenario_hash TEXT NOT NULL,
  spec_json TEXT NOT NULL,
  status TEXT NOT NULL DEFAULT 'planned'   -- planned | running | finished | failed
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment_id);
CREATE TABLE IF NOT EXISTS attempts (
  attempt_id INTEGER PRIMARY KEY AUTOINCREMENT,
  run_id TEXT NOT NULL REFERENCES runs(run_id),
  number INTEGER NOT NULL,
  status TEXT NOT NULL,                    -- running | finished | failed | aborted | superseded
  started_at REAL NOT NULL,
  finished_at REAL,
  error TEXT,
  workspace TEXT,
  harness_version TEXT,
  info_json TEXT,
  UNIQUE (run_id, number)
);
CREATE TABLE IF NOT EXISTS steps (
  attempt_id INTEGER NOT NULL REFERENCES attempts(attempt_id),
  step INTEGER NOT NULL,
  outcome TEXT NOT NULL,                   -- violated | complied | not_applicable | error
  detector TEXT NOT NULL,
  evidence_json TEXT NOT NULL,
  detectors_json TEXT NOT NULL,            -- every detector's result, primary included
  commit_sha TEXT,
  diff BLOB,
  files_changed INTEGER NOT NULL DEFAULT 0,
  lines_added INTEGER NOT NULL DEFAULT 0,
  lines_removed INTEGER NOT NULL DEFAULT 0,
  tokens_in INTEGER NOT NULL DEFAULT 0,
  tokens_out INTEGER NOT NULL DEFAULT 0,
  context_tokens INTEGER NOT NULL DEFAULT 0,
  tool_calls INTEGER NOT NULL DEFAULT 0,
  model_calls INTEGER NOT NULL DEFAULT 0,
  compacted INTEGER NOT NULL DEFAULT 0,
  duration_s REAL NOT NULL DEFAULT 0,
  error TEXT,
  trace BLOB,
  created_at REAL NOT NULL,
  completion TEXT NOT NULL DEFAULT 'not_run', -- completed | failed | not_run (the step's acceptance tests)
  suite TEXT NOT NULL DEFAULT 'not_run',      -- passed | failed | not_run (the repository's own tests)
  completion_s REAL NOT NULL DEFAULT 0,       -- wall time of the completion check
  completion_output BLOB,                     -- {"acceptance": tail of pytest output, "suite": ...}
  channel TEXT,                               -- pressure channel in force at the step (NULL: none)
  PRIMARY KEY (attempt_id, step)
);
CREATE TABLE IF NOT EXISTS model_calls (
  call_id INTEGER PRIMARY KEY AUTOINCREMENT,
  attempt_id INTEGER,
  step INTEGER,
  backend TEXT NOT NULL,
  model TEXT NOT NULL,
  stream INTEGER NOT NULL,
  status INTEGER NOT NULL,
  prompt_tokens INTEGER NOT NULL DEFAULT 0,
  completion_tokens INTEGER NOT NULL DEFAULT 0,
  latency_s REAL NOT NULL,
  queued_s REAL NOT NULL DEFAULT 0,
  retries INTEGER NOT NULL DEFAULT 0,
  retry_log TEXT,
  error TEXT,
  request BLOB,
  response BLOB,
  created_at REAL NOT NULL,
  protocol TEXT,                           -- the front-end the harness spoke (chat_completions | anthropic_messages | responses)
  wire_request BLOB,                       -- the body as the harness sent it, when it had to be translated
  wire_response BLOB                       -- a relayed call's reply as the provider sent it (same protocol)
);
CREATE INDEX IF NOT EXISTS calls_by_attempt ON model_calls(attempt_id, step);
CREATE TABLE IF NOT EXISTS judgements (
  attempt_id INTEGER NOT NULL,
  step INTEGER NOT NULL,
  judge TEXT NOT NULL,
  outcome TEXT NOT NULL,
  rationale TEXT NOT NULL DEFAULT '',
  call_id INTEGER,
  created_at REAL NOT NULL,
  PRIMARY KEY (attempt_id, step, judge)
);
""" + f"""
{LABELS_SCHEMA}
CREATE VIEW IF NOT EXISTS counted_attempts AS {COUNTED_ATTEMPTS_SQL};
CREATE VIEW IF NOT EXISTS step_results AS {STEP_RESULTS_SQL.format(completion=COMPLETION_COLUMNS)};
"""


def install_read_views(db: sqlite3.Connection) -> None:
    """The counted-attempt rule as TEMP views on this connection (they shadow any stored view)."""
    db.execute(f"CREATE TEMP VIEW IF NOT EXISTS counted_attempts AS {COUNTED_ATTEMPTS_SQL}")
    columns = {row[1] for row in db.execute("PRAGMA table_info(steps)")}
    completion = COMPLETION_COLUMNS if "channel" in columns else COMPLETION_DEFAULTS
    db.execute(f"CREATE TEMP VIEW IF NOT EXISTS step_results AS {STEP_RESULTS_SQL.format(completion=completion)}")


def blob(value: Any) -> bytes | None:
    """Compress a str or JSON-able value for a BLOB column."""
    if value is None:
        return None
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), default=str)
    return zlib.compress(text.encode("utf-8"), 6)


def unblob(data: bytes | None, as_json: bool = True) -> Any:
    if data is None:
        return None
    text = zlib.decompress(data).decode("utf-8")
    return json.loads(text) if as_json else text


class Store:
    """A connection to one results file. Not shared across threads: open one per thread."""

    def __init__(self, path: Path | str, *, readonly: bool = False, immutable: bool = False):
        """``immutable`` (implies ``readonly``) reads the file as it lies on disk and creates nothing beside
        it: a read-only open of a WAL store still adds ``-shm``/``-wal`` files, which the check before a
        run must not leave. It ignores a ``-wal`` left by a killed writer, which is enough for the schema: a
        store's tables and version are written before WAL is switched on."""
        self.path = Path(path)
        readonly = readonly or immutable
        if readonly and not self.path.exists():
            raise UnusableStore(f"no results store at {self.path}: run an experiment first or pass --store PATH")
        if self.path.is_dir():
            raise UnusableStore(f"--store {self.path} is a folder: pass the store's file, e.g. "
                                f"{self.path / DEFAULT_FILE}")
        if not readonly:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            mode = "?mode=ro&immutable=1" if immutable else "?mode=ro" if readonly else ""
            uri = self.path.resolve().as_uri() + mode
            self.db = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None, check_same_thread=False)
        except sqlite3.DatabaseError as exc:
            raise _store_error(self.path, exc, "cannot open results store") from None
        try:
            self.db.row_factory = sqlite3.Row
            self._check_schema(readonly)  # before any write: a foreign database is never touched
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.execute("INSERT OR IGNORE INTO meta VALUES ('store_id', ?)", (uuid.uuid4().hex,))
            install_read_views(self.db)
        except sqlite3.DatabaseError as exc:
            self.db.close()
            if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_NOTADB:
                raise UnusableStore(f"--store {self.path} is not a goaldrift store (not an SQLite database): "
                                    "pass a new --store path or the store's own file") from None
            raise _store_error(self.path, exc, "cannot open results store") from None
        except UnusableStore:
            self.db.close()
            raise

    def _check_schema(self, readonly: bool) -> None:
        has_meta = self.db.execute("SELECT name FROM sqlite_master WHERE name='meta'").fetchone()
        if not has_meta:
            tables = [r[0] for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table' LIMIT 4")]
            if readonly or tables:
                what = f"an SQLite database with other tables ({', '.join(tables)})" if tables else "an empty database"
                raise UnusableStore(f"--store {self.path} is not a goaldrift store ({what}); it is left as it is: "
                                    "pass a new --store path or the store's own file")
            self.db.executescript(
                f"BEGIN IMMEDIATE; {SCHEMA} INSERT OR IGNORE INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}'); COMMIT;"
            )
            return
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        version = int(row[0]) if row and str(row[0]).isdigit() else 0
        if version == SCHEMA_VERSION and not readonly:
            self._add_missing_columns()
        if version != SCHEMA_VERSION:
            raise UnusableStore(
                f"{self.path} has store schema v{version}, this goaldrift needs v{SCHEMA_VERSION}: it is left as "
                "it is; use a new --store path or the goaldrift version that wrote it"
            )
        has_labels = self.db.execute("SELECT 1 FROM sqlite_master WHERE name='labels'").fetchone()
        if not readonly and not has_labels:  # stores written before the labels table existed get it here
            self.db.executescript(LABELS_SCHEMA)

    def _add_missing_columns(self) -> None:
        """Columns added to schema v1 after stores were written with it (each with a default), so
        older v1 stores keep working."""
        added = {"model_calls": (("queued_s", "REAL NOT NULL DEFAULT 0"), ("protocol", "TEXT"),
                                 ("wire_request", "BLOB"), ("wire_response", "BLOB")),
                 "steps": (("completion", "TEXT NOT NULL DEFAULT 'not_run'"),
                           ("suite", "TEXT NOT NULL DEFAULT 'not_run'"),
                           ("completion_s", "REAL NOT NULL DEFAULT 0"), ("completion_output", "BLOB"),
                           ("channel", "TEXT"))}
        for table, new in added.items():
            columns = {row[1] for row in self.db.execute(f"PRAGMA table_info({table})")}
            for column, kind in new:
                if column not in columns:
                    self.db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")

    def close(self) -> None:
        self.db.close()

    def workspaces_dir(self) -> Path:
        """Where this store's attempts get their workspaces: ``<folder>/workspaces/<file stem>-<id>``."""
        row = self.db.execute("SELECT value FROM meta WHERE key='store_id'").fetchone()
        return self.path.resolve().parent / "workspaces" / f"{self.path.stem}-{row[0][:12]}"

    @contextlib.contextmanager
    def tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (BEGIN IMMEDIATE so concurrent writers queue, never interleave)."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise _store_error(self.path, exc, "could not write to", "locked by another process, or read-only?") from None
        try:
            yield self.db
        except sqlite3.OperationalError as exc:
            self._rollback()
            raise _store_error(self.path, exc, "could not write to", "disk full or read-only?") from None
        except BaseException:
            self._rollback()
            raise
        else:
            try:
                self.db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._rollback()
                raise _store_error(self.path, exc, "could not write to", "disk full?") from None

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # SQLite may have rolled back already (disk full)
            self.db.execute("ROLLBACK")

    # -- experiments and runs -------------------------------------------------------------------

    def upsert_experiment(self, experiment_id: str, name: str, config: dict, config_hash: str,
                          version: str, git_revision: str | None) -> None:
        now = time.time()
        with self.tx() as db:
            db.execute(
                """INSERT INTO experiments VALUES (?,?,?,?,?,?,?,?)
                   ON CONFLICT(experiment_id) DO UPDATE SET updated_at=excluded.updated_at,
                   goaldrift_version=excluded.goaldrift_version, git_revision=excluded.git_revision""",
                (experiment_id, name, json.dumps(config, sort_keys=True), config_hash, version, git_revision,
                 now, now),
            )

    def plan_runs(self, experiment_id: str, runs: list[dict]) -> None:
        """Insert planned runs; existing run ids keep their status (that is what makes resume work)."""
        with self.tx() as db:
            db.executemany(
                """INSERT OR IGNORE INTO runs (run_id, experiment_id, model_id, scenario_id, condition,
                   constraint_side, pressure_side, placement, repeat, n_steps, harness, scenario_hash, spec_json)
                   VALUES (:run_id, :experiment_id, :model_id, :scenario_id, :condition, :constraint_side,
                   :pressure_side, :placement, :repeat, :n_steps, :harness, :scenario_hash, :spec_json)""",
                [{**r, "experiment_id": experiment_id} for r in runs],
            )

    def run_status(self, run_ids: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for i in range(0, len(run_ids), 500):
            chunk = run_ids[i : i + 500]
            q = f"SELECT run_id, status FROM runs WHERE run_id IN ({','.join('?' * len(chunk))})"
            out.update({r["run_id"]: r["status"] for r in self.db.execute(q, chunk)})
        return out

    def abort_stale_attempts(self) -> int:
        """Mark attempts left ``running`` by a dead runner as ``aborted``; their runs go back to planned.

        Called at start-up while holding the runner lock, so no live runner owns them.
        """
        with self.tx() as db:
            cur = db.execute(
                "UPDATE attempts SET status='aborted', finished_at=?, error=COALESCE(error, "
                "'runner stopped before the run finished') WHERE status='running'",
                (time.time(),),
            )
            db.execute("UPDATE runs SET status='planned' WHERE status='running'")
            return cur.rowcount

    def start_attempt(self, run_id: str, workspace: str, harness_version: str | None = None) -> tuple[int, int]:
        """Open a new attempt of ``run_id``; return (attempt_id, attempt number)."""
        with self.tx() as db:
            n = db.execute("SELECT COALESCE(MAX(number), 0) + 1 FROM attempts WHERE run_id=?", (run_id,)).fetchone()[0]
            cur = db.execute(
                "INSERT INTO attempts (run_id, number, status, started_at, workspace, harness_version) "
                "VALUES (?,?,?,?,?,?)",
                (run_id, n, "running", time.time(), workspace, harness_version),
            )
            db.execute("UPDATE runs SET status='running' WHERE run_id=?", (run_id,))
            return int(cur.lastrowid), int(n)

    def set_attempt_workspace(self, attempt_id: int, workspace: str) -> None:
        with self.tx() as db:
            db.execute("UPDATE attempts SET workspace=? WHERE attempt_id=?", (workspace, attempt_id))

    def set_attempt_info(self, attempt_id: int, info: dict, harness_version: str | None = None) -> None:
        with self.tx() as db:
            db.execute(
                "UPDATE attempts SET info_json=?, harness_version=COALESCE(?, harness_version) WHERE attempt_id=?",
                (json.dumps(info, default=str), harness_version, attempt_id),
            )

    def finish_attempt(self, attempt_id: int, status: str, error: str | None = None) -> None:
        """Close an attempt as ``finished`` or ``failed`` (and its run with it)."""
        assert status in ("finished", "failed", "aborted")
        with self.tx() as db:
            db.execute(
                "UPDATE attempts SET status=?, finished_at=?, error=? WHERE attempt_id=?",
                (status, time.time(), error, attempt_id),
            )
            run_status = {"finished": "finished", "failed": "failed", "aborted": "planned"}[status]
            db.execute(
                "UPDATE runs SET status=? WHERE run_id=(SELECT run_id FROM attempts WHERE attempt_id=?)",
                (run_status, attempt_id),
            )

    def supersede(self, run_id: str) -> int:
        """Mark the run's finished and failed attempts ``superseded`` (kept, excluded from results like
        aborted ones) and plan the run again (``goaldrift rerun``); returns how many were marked."""
        with self.tx() as db:
            cur = db.execute("UPDATE attempts SET status='superseded' WHERE run_id=? AND status IN "
                             "('finished', 'failed')", (run_id,))
            db.execute("UPDATE runs SET status='planned' WHERE run_id=?", (run_id,))
            return cur.rowcount

    def write_step(self, attempt_id: int, rec: StepResult) -> None:
        """Store one finished step atomically (the only place a ``StepResult`` becomes columns)."""
        usage, done = rec.usage, rec.completion
        with self.tx() as db:
            db.execute(
                """INSERT INTO steps (attempt_id, step, outcome, detector, evidence_json, detectors_json,
                   commit_sha, diff, files_changed, lines_added, lines_removed, tokens_in, tokens_out,
                   context_tokens, tool_calls, model_calls, compacted, duration_s, error, trace, created_at,
                   completion, suite, completion_s, completion_output, channel)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (attempt_id, rec.step, rec.outcome.value, rec.detector, json.dumps([e.to_dict() for e in rec.evidence]),
                 json.dumps([r.to_dict() for r in rec.detectors]), rec.commit_sha, blob(rec.diff),
                 rec.files_changed, rec.lines_added, rec.lines_removed, usage.tokens_in, usage.tokens_out,
                 usage.context_tokens, usage.tool_calls, usage.model_calls, int(usage.compacted), rec.duration_s,
                 rec.error, blob({**rec.trace.to_dict(), "workspace_events": list(rec.workspace_events)}), time.time(),
                 done.status.value, done.suite.value, done.seconds,
                 blob({"acceptance": done.output, "suite": done.suite_output}), rec.channel),
            )

    def record_call(self, rec: CallRecord) -> int:
        with self.tx() as db:
            cur = db.execute(
                """INSERT INTO model_calls (attempt_id, step, backend, model, stream, status, prompt_tokens,
                   completion_tokens, latency_s, queued_s, retries, retry_log, error, request, response,
                   created_at, protocol, wire_request, wire_response)
                   VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)""",
                (rec.attempt_id, rec.step, rec.backend, rec.model, int(rec.stream), rec.status,
                 rec.prompt_tokens, rec.completion_tokens, rec.latency_s, rec.queued_s, rec.retries,
                 json.dumps(rec.retry_log) if rec.retry_log else None, rec.error, blob(rec.request),
                 blob(rec.response), time.time(), rec.protocol, blob(rec.wire_request),
                 blob(rec.wire_response)),
            )
            return int(cur.lastrowid)

    def record_judgement(self, attempt_id: int, step: int, judge: str, outcome: str, rationale: str,
                         call_id: int | None = None) -> None:
        with self.tx() as db:
            db.execute(
                "INSERT OR REPLACE INTO judgements VALUES (?,?,?,?,?,?,?)",
                (attempt_id, step, judge, outcome, rationale, call_id, time.time()),
            )

    def record_label(self, attempt_id: int, step: int, outcome: str | None, note: str = "") -> None:
        """Set (or with ``outcome=None`` remove) the manual label of a stored step."""
        if outcome is not None and outcome not in LABEL_OUTCOMES:
            raise StoreError(f"label outcome {outcome!r}: use one of {', '.join(LABEL_OUTCOMES)}")
        with self.tx() as db:
            if not db.execute("SELECT 1 FROM steps WHERE attempt_id=? AND step=?", (attempt_id, step)).fetchone():
                raise StoreError(f"no stored step {step} of attempt {attempt_id} in {self.path}")
            if outcome is None:
                db.execute("DELETE FROM labels WHERE attempt_id=? AND step=?", (attempt_id, step))
            else:
                db.execute("INSERT OR REPLACE INTO labels VALUES (?,?,?,?,?)",
                           (attempt_id, step, outcome, note, time.time()))

    # -- reading ------------------------------------------------------------------------------

    def status_summary(self) -> dict[str, Any]:
        """Counts of runs and attempts by status, steps stored vs planned, and model calls and tokens per
        model (for ``goaldrift status``)."""
        runs = {r[0]: r[1] for r in self.db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status")}
        attempts = {r[0]: r[1] for r in self.db.execute("SELECT status, COUNT(*) FROM attempts GROUP BY status")}
        planned_steps = self.db.execute("SELECT COALESCE(SUM(n_steps), 0) FROM runs").fetchone()[0]
        done_steps = self.db.execute("SELECT COUNT(*) FROM step_results").fetchone()[0]
        errored = self.db.execute("SELECT COUNT(*) FROM step_results WHERE outcome='error'").fetchone()[0]
        # Every call's tokens, whichever attempt made it: what was spent, aborted attempts included.
        models = {r[0]: {"calls": r[1], "prompt_tokens": r[2], "completion_tokens": r[3]} for r in self.db.execute(
            "SELECT r.model_id, COUNT(*), SUM(c.prompt_tokens), SUM(c.completion_tokens) FROM model_calls c "
            "JOIN attempts a ON a.attempt_id = c.attempt_id JOIN runs r ON r.run_id = a.run_id "
            "GROUP BY r.model_id ORDER BY r.model_id")}
        return {"runs": runs, "attempts": attempts, "planned_steps": planned_steps,
                "finished_steps": done_steps, "errored_steps": errored, "models": models}

    def results(self) -> list[dict]:
        """Per model × scenario × condition × step: runs, outcome counts and violation rate, over the
        counted attempts (``step_results``: the one rule every reader uses).

        The rate's denominator is the runs where the detector saw a decision (violated + complied);
        not-applicable and errored steps are counted separately, never as compliance.
        """
        rows = self.db.execute(
            """SELECT model_id, scenario_id, condition, step, COUNT(*) AS runs,
                      SUM(outcome='violated') AS violated, SUM(outcome='complied') AS complied,
                      SUM(outcome='not_applicable') AS not_applicable, SUM(outcome='error') AS errored
               FROM step_results GROUP BY model_id, scenario_id, condition, step
               ORDER BY model_id, scenario_id, condition, step"""
        ).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            decided = d["violated"] + d["complied"]
            d["rate"] = d["violated"] / decided if decided else None
            out.append(d)
        return out


def check_store_path(path: Path | str) -> None:
    """Refuse, before a run writes anything (log, lock, workspaces), a ``--store`` it could not use.

    ``UnusableStore`` (exit code 2) for a folder, a file where a folder of the path should be, a
    folder that cannot be written (a read-only mount), or an existing file that is not a store of
    this schema version; a new path or an empty file is fine. It writes nothing, not even the
    ``-shm``/``-wal`` files SQLite adds beside a WAL store it opens, so it can run before anything else.
    """
    path = Path(path)
    if path.is_dir() or (path.exists() and path.stat().st_size):
        Store(path, immutable=True).close()  # raises UnusableStore unless it is a store of this version
    check_output(path, "--store", "file", UnusableStore)


def _store_error(path: Path, exc: sqlite3.Error, what: str, hint: str = "") -> StoreError:
    """A ``StoreError`` for a failed SQLite call; ``DiskFull`` when SQLite says the disk is full."""
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc):
        return DiskFull(f"{what} {path}: the disk is full. Everything stored so far is kept: free some space "
                        "and run the same command again to resume")
    return StoreError(f"{what} {path}: {exc}" + (f" ({hint})" if hint else ""))


class RunnerLock:
    """An exclusive lock on a store so two runners never drive the same runs at once."""

    def __init__(self, store_path: Path):
        self.path = Path(str(store_path) + ".lock")
        self._fh = None

    def __enter__(self) -> RunnerLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "w")
        try:
            fcntl.flock(self._fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._fh.close()
            raise StoreError(
                f"another goaldrift runner is using {self.path.with_suffix('')}; wait for it or use another --store"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
