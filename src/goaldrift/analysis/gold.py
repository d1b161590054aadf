"""Manual labels as the gold standard: how often each detector and each judge agrees with a researcher.

Detector-vs-judge kappa says whether two automatic sources agree, not which one is right. A manual
label (set in ``goaldrift view``, stored in the ``labels`` table) is the reference: per source —
the primary detector (the step's stored outcome), every detector in ``detectors_json``, every LLM
judge — we report the share of labelled steps it gets right (accuracy), Cohen's kappa against the
labels with its 95% CI, and its confusion matrix (rows: label, columns: source). Steps where the
source errored are left out and counted. Labels are usually few and chosen from disagreements, so
accuracy here is conditional on how steps were picked for labelling — read it as "on the hard cases".
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd

from goaldrift.analysis import tables
from goaldrift.analysis.agreement import confusion, kappa
from goaldrift.store import Store

COLUMNS = ["source", "n", "accuracy", "kappa", "ci_low", "ci_high", "excluded", "note"]


def load_labels(store: Store | sqlite3.Connection | str | Path) -> pd.DataFrame:
    """Labelled steps of finished attempts with every source's outcome: one column per source.

    A store without labels returns before the join with ``step_results``, whose counted-attempt
    window costs about a second on a million-step store."""
    db = tables.connect(store)
    if not db.execute("SELECT 1 FROM sqlite_master WHERE name='labels'").fetchone() or \
            not db.execute("SELECT 1 FROM labels LIMIT 1").fetchone():
        return pd.DataFrame(columns=["attempt_id", "step", "label", "note"])
    rows = db.execute(
        """SELECT l.attempt_id, l.step, l.outcome AS label, l.note, s.outcome AS primary_outcome, s.detectors_json
           FROM labels l JOIN step_results s ON s.attempt_id = l.attempt_id AND s.step = l.step
           ORDER BY l.attempt_id, l.step""").fetchall()
    records = []
    for attempt_id, step, label, note, primary, dets_json in rows:
        rec = {"attempt_id": attempt_id, "step": step, "label": label, "note": note,
               "primary detector": primary}
        try:
            dets = json.loads(dets_json) if dets_json else []
        except ValueError:
            dets = []
        for d in dets if isinstance(dets, list) else []:
            if isinstance(d, dict) and d.get("detector"):
                rec[f"detector {d['detector']}"] = d.get("outcome")
        records.append(rec)
    df = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=["attempt_id", "step", "label", "note"])
    if records:
        for judge, sub in _frame(db.execute(
                """SELECT j.attempt_id, j.step, j.judge, j.outcome FROM judgements j
                   JOIN labels l ON l.attempt_id = j.attempt_id AND l.step = j.step""")).groupby("judge"):
            df = df.merge(sub.drop(columns="judge").rename(columns={"outcome": str(judge)}),
                          on=["attempt_id", "step"], how="left")
    return df


def _frame(cur: sqlite3.Cursor) -> pd.DataFrame:
    return pd.DataFrame.from_records(cur.fetchall(), columns=[d[0] for d in cur.description])


def _sources(df: pd.DataFrame) -> list[str]:
    return [c for c in df.columns if c not in ("attempt_id", "step", "label", "note")]


def label_agreement(store: Store | sqlite3.Connection | str | Path,
                    labels: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per source: n (labelled steps it decided), accuracy, kappa with CI, excluded (source errored).
    ``labels``: ``load_labels(store)`` when the caller has read it already."""
    df = load_labels(store) if labels is None else labels
    rows = []
    for source in _sources(df):
        have = df[df[source].notna()]
        m = confusion(have["label"], have[source])
        n = int(m.sum())
        k = kappa(m)
        rows.append({"source": source, "n": n, "accuracy": float(np.trace(m) / n) if n else np.nan,
                     "kappa": k["kappa"], "ci_low": k["ci_low"], "ci_high": k["ci_high"],
                     "excluded": int(len(have) - n), "note": k["note"]})
    return pd.DataFrame(rows, columns=COLUMNS)


def label_matrices(store: Store | sqlite3.Connection | str | Path,
                   labels: pd.DataFrame | None = None) -> dict[str, np.ndarray]:
    """Confusion matrix per source against the labels (rows: label, columns: source; order ``agreement.LABELS``)."""
    df = load_labels(store) if labels is None else labels
    return {s: confusion(df.loc[df[s].notna(), "label"], df.loc[df[s].notna(), s]) for s in _sources(df)}
