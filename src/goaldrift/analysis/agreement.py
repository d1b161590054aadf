"""Agreement between outcome sources: the LLM judge vs the primary detector, and detector vs detector.

Cohen's kappa on the three outcome categories (violated / complied / not_applicable); steps where
either source errored are left out and counted. kappa = (p_o − p_e) / (1 − p_e), with p_o the observed
agreement and p_e the agreement expected from the two sources' marginal rates. Its 95% CI uses the
large-sample standard error of Fleiss, Cohen & Everitt (1969) as implemented by statsmodels. When
both sources put every step in one category, p_e = 1 and kappa is undefined (reported as NaN with a
note) even though agreement is perfect — the confusion matrix shows what happened.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.inter_rater import cohens_kappa

from goaldrift.analysis import tables

LABELS = tables.DECIDED_LABELS


def confusion(a, b, labels: list[str] = LABELS) -> np.ndarray:
    """Confusion matrix (rows: source a, columns: source b) over the given labels."""
    a = pd.Categorical(np.asarray(a, dtype=object), categories=labels)
    b = pd.Categorical(np.asarray(b, dtype=object), categories=labels)
    ok = (a.codes >= 0) & (b.codes >= 0)
    m = np.zeros((len(labels), len(labels)), dtype=np.int64)
    np.add.at(m, (a.codes[ok], b.codes[ok]), 1)
    return m


def kappa(matrix: np.ndarray, conf: float = 0.95) -> dict:
    """Cohen's kappa of a square confusion matrix: kappa, se, ci_low, ci_high, p_observed, p_expected, n."""
    m = np.asarray(matrix, dtype=float)
    n = m.sum()
    if n == 0:
        return {"kappa": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_observed": np.nan,
                    "p_expected": np.nan, "n": 0, "note": "no steps judged by both"}
    po = np.trace(m) / n
    pe = float((m.sum(axis=1) * m.sum(axis=0)).sum() / (n * n))
    if np.isclose(pe, 1.0):
        return {"kappa": np.nan, "se": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p_observed": po, "p_expected": pe,
                    "n": int(n), "note": "undefined: both sources used a single category"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = cohens_kappa(m)
    k = float(res["kappa"])
    se = float(res["std_kappa"])
    z = stats.norm.ppf(0.5 + conf / 2)
    return {"kappa": k, "se": se, "ci_low": k - z * se, "ci_high": min(1.0, k + z * se),
                "p_observed": po, "p_expected": pe, "n": int(n), "note": ""}


def judge_agreement(judgements: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Per judge: kappa against the primary detector; plus each judge's confusion matrix.

    ``judgements`` is ``tables.load_judgements`` output.
    """
    rows, mats = [], {}
    for judge, g in judgements.groupby("judge", sort=True):
        m = confusion(g["detector_outcome"], g["judge_outcome"])
        excluded = int(len(g) - m.sum())
        k = kappa(m)
        rows.append(dict(source_a="primary detector", source_b=str(judge), **k, excluded=excluded))
        mats[f"primary detector vs {judge}"] = m
    return pd.DataFrame(rows), mats


def _parse_sig(sig: str) -> dict[str, str]:
    out = {}
    for part in sig.split("|") if sig else []:
        det, _, outcome = part.partition("=")
        out[det] = outcome
    return out


def detector_agreement(signatures: pd.DataFrame, runs: pd.DataFrame | None = None,
                       disagreement_limit: int = 50) -> tuple[pd.DataFrame, dict[str, np.ndarray], dict[str, pd.DataFrame]]:
    """Per detector pair: kappa, confusion matrix and the first disagreements.

    ``signatures`` is ``tables.detector_signatures`` output; ``runs`` (``tables.load_runs().frame``)
    adds run attributes to the listed disagreements.
    """
    rows, mats, dis = [], {}, {}
    if signatures.empty:
        return pd.DataFrame(rows), mats, dis
    counts = signatures["sig"].value_counts(sort=False)
    parsed = {sig: _parse_sig(sig) for sig in counts.index}
    dets = sorted({d for p in parsed.values() for d in p})
    for i, da in enumerate(dets):
        for db in dets[i + 1:]:
            m = np.zeros((len(LABELS), len(LABELS)), dtype=np.int64)
            excluded = 0
            differing = []
            for sig, n in counts.items():
                p = parsed[sig]
                if da not in p or db not in p:
                    continue
                oa, ob = p[da], p[db]
                if oa in LABELS and ob in LABELS:
                    m[LABELS.index(oa), LABELS.index(ob)] += int(n)
                else:
                    excluded += int(n)
                if oa != ob and n:
                    differing.append(sig)
            if m.sum() + excluded == 0:
                continue
            key = f"{da} vs {db}"
            rows.append(dict(source_a=da, source_b=db, **kappa(m), excluded=excluded))
            mats[key] = m
            sel = signatures[signatures["sig"].isin(differing)].head(disagreement_limit).copy()
            sel["outcome_a"] = [parsed[s][da] for s in sel["sig"]]
            sel["outcome_b"] = [parsed[s][db] for s in sel["sig"]]
            if runs is not None and not sel.empty:
                sel = sel.merge(runs[["attempt_id", "run_id", "model_id", "scenario_id", "condition"]],
                                on="attempt_id", how="left")
            dis[key] = sel.drop(columns=["sig"]).reset_index(drop=True)
    return pd.DataFrame(rows), mats, dis


def agreement(store, runs: pd.DataFrame | None = None, disagreement_limit: int = 50,
              signatures: pd.DataFrame | None = None) -> dict:
    """Everything the report shows about agreement, from a store (``signatures``:
    ``tables.detector_signatures`` output, if the caller has it already)."""
    j = tables.load_judgements(store, runs)
    jtab, jmats = judge_agreement(j) if not j.empty else (pd.DataFrame(), {})
    jdis = j[j["judge_outcome"] != j["detector_outcome"]].head(disagreement_limit) if not j.empty else j
    dtab, dmats, ddis = detector_agreement(
        tables.detector_signatures(store, runs) if signatures is None else signatures, runs, disagreement_limit)
    from goaldrift.analysis.gold import label_agreement, label_matrices, load_labels  # (imports this module)

    labels = load_labels(store)
    return {"judge": jtab, "judge_matrices": jmats, "judge_disagreements": jdis, "detectors": dtab,
                "detector_matrices": dmats, "detector_disagreements": ddis,
                "labels": label_agreement(store, labels), "label_matrices": label_matrices(store, labels)}
