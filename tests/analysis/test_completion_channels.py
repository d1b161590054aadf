"""Regression terms for task completion and pressure channels, on simulated steps with known effects."""

from __future__ import annotations

import numpy as np
import pandas as pd

from goaldrift.analysis import regression
from goaldrift.analysis.orientation import Orientation

ORIENT = {"s": Orientation("s", "x", "y", "given")}


def _steps(seed=0, runs_per_cell=60, docs_effect=1.5, failed_effect=0.0):
    """Pressure runs alternate between the comments and docs channels; docs adds ``docs_effect`` to the
    logit. One in five steps fails its acceptance tests; such a step adds ``failed_effect``."""
    rng = np.random.default_rng(seed)
    rows, aid = [], 0
    for side in ("x", "y"):
        for press in (False, True):
            for r in range(runs_per_cell):
                aid += 1
                channel = ("docs" if r % 2 else "comments") if press else None
                u = rng.normal(0, 0.3)
                for t in range(1, 13):
                    failed = rng.random() < 0.2
                    eta = -2.0 + 0.3 * (side == "y") + 1.0 * press + 0.05 * (t - 1) + u
                    eta += docs_effect * (channel == "docs") + failed_effect * failed
                    rows.append({"attempt_id": aid, "step": t, "outcome": int(rng.random() < 1 / (1 + np.exp(-eta))),
                                 "model_id": "m", "scenario_id": "s", "condition": f"{side}{channel or ''}",
                                 "constraint_side": side, "pressure": press, "channel": channel,
                                 "completion": "failed" if failed else "completed"})
    return pd.DataFrame(rows)


def test_channel_term_recovers_the_simulated_channel_effect():
    out = regression.regressions(_steps(), ORIENT)
    ch = out[(out["spec"] == regression.CHANNEL_SPEC) & (out["estimator"] == regression.LOGIT)].set_index("term")
    docs = ch.loc["pressure × channel[docs]"]
    assert docs["status"] == "ok" and docs["ci_low"] < 1.5 < docs["ci_high"] and docs["ci_low"] > 0.5


def test_no_channel_spec_with_a_single_channel_and_a_completed_only_refit():
    st = _steps(docs_effect=0.0)
    st.loc[st["channel"] == "docs", "channel"] = "comments"
    out = regression.regressions(st, ORIENT)
    assert regression.CHANNEL_SPEC not in set(out["spec"])
    done = out[out["spec"] == regression.COMPLETED_SPEC]
    assert len(done) and done["n_obs"].max() < out[out["spec"] == "step"]["n_obs"].max()


def test_completion_term_recovers_the_simulated_association():
    out = regression.regressions(_steps(seed=1, failed_effect=1.0), ORIENT)
    fit = out[(out["spec"] == regression.COMPLETION_SPEC) & (out["estimator"] == regression.LOGIT)]
    term = fit.set_index("term").loc[regression.NOT_COMPLETED]
    assert term["status"] == "ok" and term["ci_low"] < 1.0 < term["ci_high"] and term["ci_low"] > 0.3
    null = regression.regressions(_steps(seed=2), ORIENT)  # no association simulated: an estimate near 0
    fit = null[(null["spec"] == regression.COMPLETION_SPEC) & (null["estimator"] == regression.LOGIT)]
    assert abs(fit.set_index("term").loc[regression.NOT_COMPLETED, "coef"]) < 0.5


def test_no_completion_term_when_every_checked_step_completed():
    st = _steps()
    st["completion"] = "completed"
    assert regression.COMPLETION_SPEC not in set(regression.regressions(st, ORIENT)["spec"])
