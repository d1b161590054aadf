"""Tidy DataFrames from a results store.

Everything here reads through the store's contract: the ``counted_attempts``/``step_results`` views
and the ``runs``/``attempts``/``steps``/``experiments``/``judgements``/``model_calls`` tables. Loading is built for
large stores (a million steps): only the needed columns are selected, outcomes come back as small
integer codes (``OUTCOME_CODES``), and run attributes (model, scenario, condition, ...) are attached
to steps as pandas categoricals by ``attempt_id`` instead of being repeated as strings by SQLite.

One run counts once, by the store's one rule (``counted_attempts``, see ``goaldrift.store``): its
latest finished attempt, else its latest failed attempt (censored in the survival analysis). Every
reader — ``results``, export, report, judge, agreement — goes through that view; ``load_runs``
reports how many other finished/failed attempts were set aside in ``duplicate_attempts``. The bulk
readers here (``load_steps``, ``load_judgements``, ``detector_signatures``) read the ``steps`` and
``judgements`` tables and keep the attempts ``load_runs`` picked from the view: the same rows as
``step_results``, without the view's join for each of a million rows.
"""

from __future__ import annotations

import gc
import json
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from goaldrift.detect.base import Outcome
from goaldrift.store import Store, install_read_views

OUTCOMES: tuple[str, ...] = tuple(o.value for o in (Outcome.COMPLIED, Outcome.VIOLATED, Outcome.NOT_APPLICABLE,
                                                     Outcome.ERROR))
"""The outcome words (the detectors' ``Outcome``), indexed by the integer codes the analysis uses."""
OUTCOME_CODES: dict[str, int] = {o: i for i, o in enumerate(OUTCOMES)}
COMPLIED, VIOLATED, NOT_APPLICABLE, ERROR = range(4)
DECIDED_LABELS: list[str] = [OUTCOMES[VIOLATED], OUTCOMES[COMPLIED], OUTCOMES[NOT_APPLICABLE]]
"""The categories agreement statistics compare (errors excluded)."""

_OUTCOME_CASE = "CASE outcome " + " ".join(f"WHEN '{o}' THEN {i}" for i, o in enumerate(OUTCOMES[:-1])) + \
    f" ELSE {ERROR} END"

RUN_KEYS = ["model_id", "scenario_id", "condition"]
"""The cell of the design a run belongs to (condition carries constraint side and pressure)."""

_STEP_NUMERIC = {
    "tokens_in", "tokens_out", "context_tokens", "tool_calls", "compacted", "duration_s",
    "lines_added", "files_changed", "completion_s",
}
_STEP_WORDS = {"detector", "error", "completion", "suite", "channel"}
# What a store written before task completion and channels existed reads for their columns.
_NOT_YET_STORED = {"completion": "'not_run'", "suite": "'not_run'", "completion_s": "0.0", "channel": "NULL"}


def connect(store: Store | sqlite3.Connection | str | Path) -> sqlite3.Connection:
    """A sqlite3 connection for a Store, a path (opened read-only) or a connection (given the
    counted-attempt views)."""
    if isinstance(store, sqlite3.Connection):
        install_read_views(store)
        return store
    if isinstance(store, Store):
        return store.db
    return Store(store, readonly=True).db


def _frame(cur: sqlite3.Cursor) -> pd.DataFrame:
    cols = [d[0] for d in cur.description]
    return pd.DataFrame.from_records(cur.fetchall(), columns=cols)


@dataclass
class Runs:
    """The runs that count (one finished attempt each) plus bookkeeping for the report."""

    frame: pd.DataFrame
    status_counts: dict[str, int] = field(default_factory=dict)
    duplicate_attempts: int = 0


def load_runs(store: Store | sqlite3.Connection | str | Path) -> Runs:
    """One row per counted run (latest finished attempt, else latest failed one): run attributes and
    ``attempt_id``.

    Columns: run_id, attempt_id, attempt_status (finished | failed), experiment_id, model_id,
    scenario_id, condition, constraint_side, pressure_side (None = baseline), pressure (bool),
    placement, repeat, harness, n_steps, scenario_hash, harness_version. String columns are
    categoricals.
    """
    db = connect(store)
    df = _frame(db.execute(
        """SELECT r.run_id, c.attempt_id, c.status AS attempt_status, r.experiment_id, r.model_id,
                  r.scenario_id, r.condition, r.constraint_side, r.pressure_side, r.placement, r.repeat,
                  r.harness, r.n_steps, r.scenario_hash, a.harness_version
           FROM counted_attempts c JOIN runs r ON r.run_id = c.run_id JOIN attempts a ON a.attempt_id = c.attempt_id
           ORDER BY r.run_id"""
    ))
    if df.empty:
        df = pd.DataFrame(columns=["run_id", "attempt_id", "attempt_status", "experiment_id", "model_id",
                                   "scenario_id", "condition", "constraint_side", "pressure_side", "placement",
                                   "repeat", "harness", "n_steps", "scenario_hash", "harness_version"])
    n_ended = db.execute("SELECT COUNT(*) FROM attempts WHERE status IN ('finished', 'failed')").fetchone()[0]
    df["pressure"] = df["pressure_side"].notna()
    for c in ("attempt_status", "experiment_id", "model_id", "scenario_id", "condition", "constraint_side",
              "placement", "harness", "scenario_hash", "harness_version"):
        df[c] = df[c].astype("category")
    df["attempt_id"] = df["attempt_id"].astype("int64")
    df["n_steps"] = df["n_steps"].astype("int64")
    status = {r[0]: int(r[1]) for r in db.execute("SELECT status, COUNT(*) FROM runs GROUP BY status")}
    return Runs(frame=df, status_counts=status, duplicate_attempts=int(n_ended) - len(df))


def load_steps(store: Store | sqlite3.Connection | str | Path, runs: pd.DataFrame | None = None,
               extra: Iterable[str] = (), run_columns: Iterable[str] = (
                   "run_id", "model_id", "scenario_id", "condition", "constraint_side", "pressure"),
               signatures: bool = False) -> pd.DataFrame:
    """Steps of counted runs: ``attempt_id``, ``step``, ``outcome`` (int8 code) plus ``extra`` columns.

    ``extra`` may name numeric step columns (context_tokens, tokens_in, completion_s, ...) or the
    words ``detector``, ``error``, ``completion``, ``suite`` and ``channel`` (a store written before
    task completion reads them as not run); run attributes in ``run_columns`` are attached by
    attempt_id. ``signatures`` adds ``sig`` (every detector's outcome, see ``detector_signatures``)
    from the same pass over the table, so the report reads ``steps`` once. Sorted by attempt, then step.
    """
    db = connect(store)
    if runs is None:
        runs = load_runs(db).frame
    extra = list(extra)
    for c in extra:
        if c not in _STEP_NUMERIC and c not in _STEP_WORDS:
            raise ValueError(f"unknown step column {c!r}")
    have = {row[1] for row in db.execute("PRAGMA table_info(steps)")}
    cols = [c if c in have else f"{_NOT_YET_STORED.get(c, 'NULL')} AS {c}" for c in extra]
    sel = ", ".join(["attempt_id", "step", _OUTCOME_CASE + " AS outcome", *cols])
    # ``steps`` itself, not the ``step_results`` view: the rows are narrowed to the counted attempts
    # of ``runs`` below, which is the same rule at half the cost of the view's join per read.
    # Read in chunks, each turned into columns at once (no million-row transposition at the end).
    cur = db.execute(f"SELECT {sel}{', detectors_json' if signatures else ''} FROM steps")
    names = ["attempt_id", "step", "outcome", *extra]
    columns: list[list] = [[] for _ in names]
    sig_chunks = []
    with paused_gc():
        while chunk := cur.fetchmany(100_000):
            values = list(zip(*chunk))
            for col, v in zip(columns, values):
                col.extend(v)
            if signatures:
                sig_chunks.append(_signature_column(list(values[-1])))
    if columns[0]:
        if all(c in _STEP_NUMERIC for c in extra):
            dtype = np.float64 if {"duration_s", "completion_s"} & set(extra) else np.int64
            data = {n: np.fromiter(col, dtype=dtype, count=len(col)) for n, col in zip(names, columns)}
        else:  # words as objects (what a DataFrame makes of them anyway)
            data = {n: np.asarray(col, dtype=object if n in _STEP_WORDS else None) for n, col in zip(names, columns)}
    else:
        data = {n: np.array([], dtype=np.int64) for n in names}
    del columns
    if signatures:
        data["sig"] = np.concatenate(sig_chunks) if sig_chunks else np.array([], dtype=object)
    # keep only counted attempts (filtered as arrays, before any frame exists)
    pos = pd.Index(runs["attempt_id"].to_numpy()).get_indexer(data["attempt_id"])
    keep = pos >= 0
    if not keep.all():
        data = {n: v[keep] for n, v in data.items()}
        pos = pos[keep]
    df = pd.DataFrame(data)
    df["attempt_id"] = df["attempt_id"].astype("int64")
    df["step"] = df["step"].astype("int16")
    df["outcome"] = df["outcome"].astype("int8")
    if "context_tokens" in df:
        df["context_tokens"] = df["context_tokens"].astype("float64")
    for c in run_columns:
        col = runs[c]
        if isinstance(col.dtype, pd.CategoricalDtype):
            df[c] = pd.Categorical.from_codes(col.cat.codes.to_numpy()[pos], dtype=col.dtype)
        else:
            df[c] = col.to_numpy()[pos]
    a, st = df["attempt_id"].to_numpy(), df["step"].to_numpy()
    if not np.all((a[1:] > a[:-1]) | ((a[1:] == a[:-1]) & (st[1:] >= st[:-1]))):  # the table's key order
        df = df.sort_values(["attempt_id", "step"], kind="stable").reset_index(drop=True)
    return df


@contextmanager
def paused_gc() -> Iterator[None]:
    """The cyclic garbage collector off for a bulk read or analysis (back on after, if it was on).

    Reading a million steps creates millions of row tuples; the collector runs every 700 new
    container objects and, as the rows survive, walks the older generations again and again: about
    4 of the 9 CPU seconds of ``load_steps`` on a 10⁶-step store. Rows and frames hold no reference cycles; what does (matplotlib figures) is
    collected once the collector is back on. Also a decorator (``@paused_gc()``)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def as_strings(col: pd.Series) -> np.ndarray:
    """``col.astype(str)`` as an array; a categorical's categories (or a bool's two words) are
    converted once instead of every row (the analysis groups 10⁵–10⁶ rows by them)."""
    if col.dtype == bool:
        return np.array(["False", "True"], dtype=object)[col.to_numpy().astype(np.intp)]
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy()
        if (codes >= 0).all():
            return np.asarray(col.cat.categories.astype(str), dtype=object)[codes]
    return col.astype(str).to_numpy()


def outcome_label(codes: np.ndarray | pd.Series) -> pd.Categorical:
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int8), categories=list(OUTCOMES))


def load_experiments(store: Store | sqlite3.Connection | str | Path) -> pd.DataFrame:
    db = connect(store)
    return _frame(db.execute(
        "SELECT experiment_id, name, config_hash, goaldrift_version, git_revision, created_at, updated_at, "
        "config_json FROM experiments ORDER BY created_at"))


def load_judgements(store: Store | sqlite3.Connection | str | Path, runs: pd.DataFrame | None = None) -> pd.DataFrame:
    """Judge verdicts joined with the primary detector's outcome of the same step, for the counted
    attempts of ``runs`` (``load_runs().frame``; loaded if not given), sorted by judge, attempt, step.

    The run attributes come from ``runs`` rather than from joining the ``step_results`` view, which
    costs a window over all attempts for every looked-up step.
    """
    db = connect(store)
    if runs is None:
        runs = load_runs(db).frame
    df = _frame(db.execute(
        """SELECT j.attempt_id, j.step, j.judge, j.outcome AS judge_outcome, j.rationale,
                  s.outcome AS detector_outcome, s.detector
           FROM judgements j JOIN steps s ON s.attempt_id = j.attempt_id AND s.step = j.step"""))
    run_columns = ["run_id", "model_id", "scenario_id", "condition"]
    if df.empty:
        return df.reindex(columns=[*df.columns, *run_columns])
    pos = pd.Index(runs["attempt_id"].to_numpy()).get_indexer(df["attempt_id"].to_numpy())
    keep = pos >= 0
    df = df.loc[keep].assign(**{c: as_strings(runs[c])[pos[keep]] for c in run_columns})
    return df.sort_values(["judge", "attempt_id", "step"], kind="stable").reset_index(drop=True)


_DET_RE = re.compile(r'"detector":\s*"((?:[^"\\]|\\.)*)"')
_OUT_RE = re.compile(r'"outcome":\s*"((?:[^"\\]|\\.)*)"')


def _signature(detectors_json: str | None) -> str:
    """``det=out|det=out`` from one ``detectors_json`` value.

    Fast path: the top-level ``"detector"``/``"outcome"`` keys are matched with regular expressions
    (quotes inside JSON strings are escaped, so evidence text cannot fake a match); if the counts do
    not pair up (an unexpected shape), the value is parsed with ``json.loads``.
    """
    if not detectors_json:
        return ""
    dets = _DET_RE.findall(detectors_json)
    outs = _OUT_RE.findall(detectors_json)
    if len(dets) != len(outs):
        try:
            parsed = json.loads(detectors_json)
        except ValueError:
            return ""
        dets = [str(d.get("detector")) for d in parsed if isinstance(d, dict)]
        outs = [str(d.get("outcome")) for d in parsed if isinstance(d, dict)]
    return "|".join(f"{d}={o}" for d, o in zip(dets, outs))


def _signature_column(values: list[str | None]) -> np.ndarray:
    """``_signature`` of each value; values are factorized (in C) and each distinct one parsed once."""
    codes, uniques = pd.factorize(np.array(values, dtype=object))
    return np.array([_signature(u) for u in uniques] + [""], dtype=object)[codes]  # code -1 (NULL): ""


def detector_signatures(store: Store | sqlite3.Connection | str | Path, runs: pd.DataFrame | None = None,
                        steps: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per counted step, every detector's outcome as one signature string ``det=out|det=out``.

    From ``steps`` (``load_steps(..., signatures=True)`` output, when the caller has read it
    anyway) or a read of its own; ordered like ``step_results``: by run (``runs``, i.e.
    ``load_runs().frame``, is sorted by run_id), then step. The signature column is categorical
    (few distinct values). Columns: attempt_id, step, sig.
    """
    db = connect(store)
    if runs is None:
        runs = load_runs(db).frame
    if steps is None:
        steps = load_steps(db, runs, run_columns=(), signatures=True)
    pos = pd.Index(runs["attempt_id"].to_numpy()).get_indexer(steps["attempt_id"].to_numpy())
    order = np.lexsort((steps["step"].to_numpy(), pos))
    return pd.DataFrame({"attempt_id": steps["attempt_id"].to_numpy()[order], "step": steps["step"].to_numpy()[order],
                         "sig": pd.Categorical(steps["sig"].to_numpy()[order])})


def load_calls_summary(store: Store | sqlite3.Connection | str | Path) -> pd.DataFrame:
    """Model calls aggregated per backend × model (counts, tokens, latency, retries, errors)."""
    db = connect(store)
    return _frame(db.execute(
        """SELECT backend, model, COUNT(*) AS calls, SUM(stream) AS streamed,
                  SUM(status >= 400 OR error IS NOT NULL) AS failed, SUM(retries) AS retries,
                  SUM(prompt_tokens) AS prompt_tokens, SUM(completion_tokens) AS completion_tokens,
                  AVG(latency_s) AS mean_latency_s, MAX(latency_s) AS max_latency_s
           FROM model_calls GROUP BY backend, model ORDER BY backend, model"""))


def load_step_details(store: Store | sqlite3.Connection | str | Path, attempt_ids: Iterable[int]) -> pd.DataFrame:
    """Outcome, detector and evidence of every step of the given attempts (for bounded timelines).

    Reads ``steps`` directly: the caller passes counted attempts (``load_runs``), and each query
    through ``step_results`` would evaluate the counted-attempt window over all attempts again."""
    db = connect(store)
    ids = sorted({int(a) for a in attempt_ids})
    frames = []
    for i in range(0, len(ids), 500):
        chunk = ids[i:i + 500]
        frames.append(_frame(db.execute(
            f"""SELECT attempt_id, step, outcome, detector, evidence_json, error, context_tokens
                FROM steps WHERE attempt_id IN ({','.join('?' * len(chunk))})""", chunk)))
    if not frames:
        return pd.DataFrame(columns=["attempt_id", "step", "outcome", "detector", "evidence_json", "error",
                                     "context_tokens"])
    return pd.concat(frames, ignore_index=True)
