"""Matplotlib figures for the report, returned as base64 PNG data URIs (no external assets)."""

from __future__ import annotations

import base64
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

_SIDE_COLOURS = ["#1f77b4", "#d62728"]


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _grid(models: list[str], scenarios: list[str]):
    nr, nc = len(scenarios), len(models)
    w, h = 4.2 * nc + 0.6, 3.2 * nr + 0.6
    fig, axes = plt.subplots(nr, nc, figsize=(w, h), squeeze=False, sharey=True)
    # fixed margins instead of tight_layout (which costs seconds per figure on big grids)
    fig.subplots_adjust(left=0.7 / w, right=1 - 0.15 / w, bottom=0.55 / h, top=1 - 0.6 / h,
                        wspace=0.12, hspace=0.45 * 3.2 / (3.2 + 0.1))
    return fig, axes


def _style(cond_attrs: pd.DataFrame, scenario: str) -> dict[str, dict]:
    """Colour by constraint side, dashed = baseline, solid = pressure."""
    sub = cond_attrs[cond_attrs["scenario_id"] == scenario]
    sides = sorted(sub["constraint_side"].astype(str).unique())
    out = {}
    for r in sub.itertuples():
        colour = _SIDE_COLOURS[sides.index(str(r.constraint_side)) % 2]
        out[r.condition] = {"color": colour, "linestyle": "-" if r.pressure else "--",
                                "marker": "o" if r.pressure else "s"}
    return out


def drift_grid(step_rates: pd.DataFrame, y: str = "rate", lo: str = "ci_low", hi: str = "ci_high",
               ylabel: str = "violation rate", title: str = "") -> str | None:
    """Rows: scenarios (value pairs); columns: models; in each panel one line per condition with its
    95% CI band; legend gives the number of runs per condition."""
    if step_rates.empty:
        return None
    models = sorted(step_rates["model_id"].unique())
    scenarios = sorted(step_rates["scenario_id"].unique())
    attrs = step_rates.drop_duplicates(["scenario_id", "condition"])[["scenario_id", "condition",
                                                                      "constraint_side", "pressure"]]
    fig, axes = _grid(models, scenarios)
    for i, s in enumerate(scenarios):
        style = _style(attrs, s)
        for j, m in enumerate(models):
            ax = axes[i][j]
            sub = step_rates[(step_rates["model_id"] == m) & (step_rates["scenario_id"] == s)]
            for cond, g in sub.groupby("condition", sort=True):
                g = g.sort_values("step")
                st = style.get(cond, {})
                n = int(g["runs"].max())
                ax.plot(g["step"], g[y], label=f"{cond} (n={n})", markersize=3, linewidth=1.4, **st)
                ax.fill_between(g["step"], g[lo], g[hi], color=st.get("color"), alpha=0.12, linewidth=0)
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(f"{m} — {s}", fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            if j == 0:
                ax.set_ylabel(ylabel, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            if len(sub):
                ax.legend(fontsize=6.5, loc="upper left")
            else:
                ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes)
    if title:
        fig.suptitle(title, fontsize=10)
    return _png(fig)


def km_grid(km: pd.DataFrame, cond_attrs: pd.DataFrame) -> str | None:
    """Kaplan–Meier curves of 'no violation yet' per condition, with CI bands, one panel per cell."""
    if km.empty:
        return None
    models = sorted(km["model_id"].unique())
    scenarios = sorted(km["scenario_id"].unique())
    fig, axes = _grid(models, scenarios)
    for i, s in enumerate(scenarios):
        style = _style(cond_attrs, s)
        for j, m in enumerate(models):
            ax = axes[i][j]
            sub = km[(km["model_id"] == m) & (km["scenario_id"] == s)]
            for cond, g in sub.groupby("condition", sort=True):
                g = g.sort_values("time")
                t = np.r_[0, g["time"].to_numpy()]
                sv = np.r_[1.0, g["survival"].to_numpy()]
                lo_ = np.r_[1.0, g["ci_low"].to_numpy()]
                hi_ = np.r_[1.0, g["ci_high"].to_numpy()]
                st = dict(style.get(cond, {}))
                st.pop("marker", None)
                ax.step(t, sv, where="post", label=f"{cond} (n={int(g['runs'].iloc[0])})", linewidth=1.4, **st)
                ax.fill_between(t, lo_, hi_, step="post", color=st.get("color"), alpha=0.12, linewidth=0)
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(f"{m} — {s}", fontsize=9)
            ax.set_xlabel("step", fontsize=8)
            if j == 0:
                ax.set_ylabel("P(no violation yet)", fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            if len(sub):
                ax.legend(fontsize=6.5, loc="lower left")
    fig.suptitle("Time to first violation: Kaplan–Meier (95% CI)", fontsize=10)
    return _png(fig)
