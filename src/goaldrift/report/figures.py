"""Matplotlib figures for the report, returned as base64 PNG data URIs (no external assets).

Reading at a glance: small multiples with one row per value pair × constraint side and one column
per model, so each panel holds only a baseline (dashed) and its pressure condition (solid) and
their interval bands stay apart; bars below 0 show per step the share of runs without a decision
(n/a, error), so a rate on few decisions is visible as such (matplotlib text is slow, so numbers
are printed only in the Kaplan–Meier at-risk tables). Colours belong
to values (the side the constraint protects), fixed once for the whole report. Kaplan–Meier panels
carry censor marks and a numbers-at-risk table; the forest plot shows every oriented contrast with
its interval on one axis. Figures are rendered at 150 dpi (print quality when scaled to the page).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.collections import PolyCollection
from matplotlib.lines import Line2D

from goaldrift.analysis.orientation import Orientation

DPI = 150
# Okabe–Ito (colour-blind safe), assigned to values in name order
_PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
_PANEL_W, _PANEL_H, _TABLE_ROW_H = 3.5, 2.4, 0.24
_NA_DEPTH = 0.24  # bars below 0 show n/a + error as a share of runs (0.24 on the y axis = every run)


def value_colours(values: Iterable[str]) -> dict[str, str]:
    """One colour per value name, the same in every figure of a report."""
    return {v: _PALETTE[i % len(_PALETTE)] for i, v in enumerate(sorted(set(map(str, values))))}


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, pil_kwargs={"compress_level": 1})  # zlib level 6 costs seconds
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _rows(cond_attrs: pd.DataFrame, orient: dict[str, Orientation]) -> list[tuple[str, str, list[str]]]:
    """(scenario, constraint side, [baseline condition(s) first, then pressure]) per figure row."""
    out = []
    for scen in sorted(cond_attrs["scenario_id"].astype(str).unique()):
        sub = cond_attrs[cond_attrs["scenario_id"].astype(str) == scen]
        o = orient.get(scen)
        sides = sorted(sub["constraint_side"].astype(str).unique(),
                       key=lambda s: (o is not None and s == o.reference, s))
        for side in sides:
            ss = sub[sub["constraint_side"].astype(str) == side]
            conds = sorted(ss["condition"].astype(str), key=lambda c: (bool(ss.set_index("condition").loc[c, "pressure"]), c))
            out.append((scen, side, conds))
    return out


def _title(scen: str, side: str, model: str, orient: dict[str, Orientation], runs: list[int]) -> str:
    o = orient.get(scen)
    head = f"{model} · {scen} · {'+'.join(map(str, runs))} runs"
    if o is None:
        return f"{head}\nconstraint favours {side}"
    direction = "toward" if side == o.other else "away from"
    return f"{head}\n{side} constraint; pressure {direction} {o.reference}"


def _style_legend(fig) -> None:
    """One legend for the line styles (colours are named in every panel title)."""
    handles = [Line2D([], [], color="#555555", linestyle="--", marker="s", markersize=3, label="baseline (no pressure)"),
               Line2D([], [], color="#555555", linestyle="-", marker="o", markersize=3, label="pressure")]
    fig.legend(handles=handles, loc="upper left", ncol=2, fontsize=7, frameon=False)


def _grid(n_rows: int, n_cols: int, table_rows: int):
    gap = table_rows * _TABLE_ROW_H + 0.95  # x label, table, next panel's two-line title (inches)
    w, h = _PANEL_W * n_cols + 0.9, (_PANEL_H + gap) * n_rows + 0.85
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(w, h), squeeze=False, sharex=True, sharey=True)
    fig.subplots_adjust(left=0.75 / w, right=1 - 0.15 / w, bottom=(gap - 0.45) / h, top=1 - 1.3 / h,
                        wspace=0.12, hspace=gap / _PANEL_H)
    return fig, axes


def _table(ax, steps: np.ndarray, rows: list[tuple[str, np.ndarray, str]], labels: bool) -> None:
    """Numbers under a panel, aligned with the x ticks (like a numbers-at-risk table); row labels
    only in the first column."""
    for i, (label, values, colour) in enumerate(rows):
        y = -0.2 - i * _TABLE_ROW_H / _PANEL_H
        if labels:
            ax.text(-0.01, y, label, transform=ax.transAxes, ha="right", va="center", fontsize=5.5, color=colour)
        for t, v in zip(steps, values):
            ax.text(t, y, str(int(v)), transform=ax.get_xaxis_transform(), ha="center", va="center", fontsize=5.5,
                    color=colour)


def _undecided_bars(ax, steps: np.ndarray, share: np.ndarray, offset: float, colour: str, pressure: bool) -> None:
    """Steps without a decision (n/a + error), as bars hanging below 0 (full depth = all runs); one
    PolyCollection per condition (``ax.bar`` makes an artist per bar, slow on big grids)."""
    x0 = steps + offset - 0.18
    top = np.full(len(steps), -0.04)
    bottom = top - _NA_DEPTH * np.asarray(share, float)
    verts = np.stack([np.column_stack([x0, top]), np.column_stack([x0 + 0.36, top]),
                      np.column_stack([x0 + 0.36, bottom]), np.column_stack([x0, bottom])], axis=1)
    ax.add_collection(PolyCollection(verts, facecolors=colour, alpha=0.75 if pressure else 0.35, linewidths=0))


def _style(side: str, pressure: bool, colours: dict[str, str]) -> dict:
    return {"color": colours.get(side, "#444444"), "linestyle": "-" if pressure else "--",
            "marker": "o" if pressure else "s", "alpha": 1.0 if pressure else 0.85}


def _shared_axes(ax, steps: np.ndarray) -> None:
    """Limits and ticks, set once: every panel shares both axes."""
    ax.set_ylim(-0.04 - _NA_DEPTH - 0.02, 1.02)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xlim(steps.min() - 0.5, steps.max() + 0.5)
    ax.set_xticks(steps)


def _panel_axes(ax, ylabel: str | None) -> None:
    """Per-panel layout; the y label, y tick labels and the n/a note only in the first column
    (every text costs render time on big grids)."""
    ax.axhline(-0.02, color="#999999", linewidth=0.6)
    ax.tick_params(labelsize=7, labelleft=bool(ylabel), labelbottom=True)
    ax.grid(alpha=0.3)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=8)
        ax.text(0.01, 0.015, "below: n/a + error (share of runs)", transform=ax.transAxes, fontsize=5.5,
                color="#555555")


def drift_grid(df: pd.DataFrame, cond_attrs: pd.DataFrame, orient: dict[str, Orientation], colours: dict[str, str],
               y: str, ylabel: str, title: str) -> str | None:
    """Per value pair × constraint side (rows) and model (columns): each condition's curve ``y`` with
    its interval band, and below 0 the share of runs without a decision (n/a + error) per step."""
    if df.empty:
        return None
    models = sorted(df["model_id"].astype(str).unique())
    rows = _rows(cond_attrs, orient)
    fig, axes = _grid(len(rows), len(models), 0)
    attrs = cond_attrs.assign(condition=cond_attrs["condition"].astype(str)).set_index(["scenario_id", "condition"])
    all_steps = np.sort(df["step"].unique())
    _shared_axes(axes[0][0], all_steps)
    for i, (scen, side, conds) in enumerate(rows):
        for j, m in enumerate(models):
            ax = axes[i][j]
            sub = df[(df["model_id"] == m) & (df["scenario_id"] == scen)]
            drawn, runs = 0, []
            for c in conds:
                g = sub[sub["condition"] == c].sort_values("step")
                if g.empty:
                    continue
                press = bool(attrs.loc[(scen, c), "pressure"])
                st = _style(side, press, colours)
                n_runs = int(g["runs"].max())
                runs.append(n_runs)
                ax.plot(g["step"], g[y], markersize=3, linewidth=1.5, **st)
                ax.fill_between(g["step"], g["ci_low"], g["ci_high"], color=st["color"],
                                alpha=0.22 if press else 0.10, linewidth=0)
                _undecided_bars(ax, g["step"].to_numpy(), g["undecided"].to_numpy() / max(n_runs, 1),
                                0.19 if press else -0.19, st["color"], press)
                drawn += 1
            _panel_axes(ax, ylabel if j == 0 else None)
            ax.set_title(_title(scen, side, m, orient, runs), fontsize=7.5)
            if not drawn:
                ax.text(0.5, 0.5, "no runs", ha="center", va="center", transform=ax.transAxes)
        for j in range(len(models)):
            axes[i][j].set_xlabel("step", fontsize=7, labelpad=1)
    fig.suptitle(title, fontsize=10)
    _style_legend(fig)
    return _png(fig)


def km_grid(km: pd.DataFrame, cond_attrs: pd.DataFrame, orient: dict[str, Orientation],
            colours: dict[str, str]) -> str | None:
    """Kaplan–Meier curves of 'no violation yet' with bands, censor marks (|) and at-risk tables."""
    if km.empty:
        return None
    models = sorted(km["model_id"].astype(str).unique())
    rows = _rows(cond_attrs, orient)
    fig, axes = _grid(len(rows), len(models), 2)
    attrs = cond_attrs.assign(condition=cond_attrs["condition"].astype(str)).set_index(["scenario_id", "condition"])
    all_steps = np.sort(km["time"].unique())
    _shared_axes(axes[0][0], all_steps)
    for i, (scen, side, conds) in enumerate(rows):
        for j, m in enumerate(models):
            ax = axes[i][j]
            sub = km[(km["model_id"] == m) & (km["scenario_id"] == scen)]
            table, runs = [], []
            for c in conds:
                g = sub[sub["condition"] == c].sort_values("time")
                if g.empty:
                    continue
                press = bool(attrs.loc[(scen, c), "pressure"])
                st = _style(side, press, colours)
                st.pop("marker")
                t = np.r_[g["time"].iloc[0] - 1, g["time"].to_numpy()]
                sv = np.r_[1.0, g["survival"].to_numpy()]
                runs.append(int(g["runs"].iloc[0]))
                ax.step(t, sv, where="post", linewidth=1.5, **st)
                ax.fill_between(t, np.r_[1.0, g["ci_low"].to_numpy()], np.r_[1.0, g["ci_high"].to_numpy()],
                                step="post", color=st["color"], alpha=0.2 if press else 0.09, linewidth=0)
                cens = g["censored"].to_numpy() > 0
                ax.plot(g["time"].to_numpy()[cens] + 0.5, g["survival"].to_numpy()[cens], linestyle="none",
                        marker="|", markersize=7, color=st["color"])
                _undecided_bars(ax, g["time"].to_numpy(), g["undecided"].to_numpy() / max(int(g["runs"].iloc[0]), 1),
                                0.19 if press else -0.19, st["color"], press)
                table.append((f"{'pressure' if press else 'baseline'} at risk", g["at_risk"].to_numpy(), st["color"]))
            _panel_axes(ax, "P(no violation yet)" if j == 0 else None)
            ax.set_title(_title(scen, side, m, orient, runs), fontsize=7.5)
            if table:
                _table(ax, all_steps, table, labels=j == 0)
        for j in range(len(models)):
            axes[i][j].set_xlabel("step", fontsize=7, labelpad=1)
    fig.suptitle("Time to first violation: Kaplan–Meier (95% CI)\n| = run censored after its last decided step",
                 fontsize=10)
    _style_legend(fig)
    return _png(fig)


FOREST_ESTIMANDS = ("pressure_effect", "drift_contrast", "pressure_asymmetry", "baseline_asymmetry")


def forest(asym: pd.DataFrame, colours: dict[str, str]) -> str | None:
    """Every oriented contrast and pressure effect with its 95% interval, on one axis (zero marked)."""
    rows = asym[asym["estimand"].isin(FOREST_ESTIMANDS)].copy()
    if rows.empty:
        return None
    rows["order"] = rows["estimand"].map({e: i for i, e in enumerate(FOREST_ESTIMANDS)})
    rows = rows.sort_values(["scenario_id", "model_id", "factors", "order"]).reset_index(drop=True)
    n = len(rows)
    h = 0.24 * n + 1.5
    fig, ax = plt.subplots(figsize=(9.5, h))
    fig.subplots_adjust(left=0.52, right=0.97, top=1 - 0.7 / h, bottom=0.6 / h)
    ypos = np.arange(n)[::-1]
    for yv, r in zip(ypos, rows.itertuples()):
        c = colours.get(str(r.reference), "#444444")
        bold = r.estimand != "pressure_effect"
        if np.isfinite(r.ci_low) and np.isfinite(r.ci_high):
            ax.plot([r.ci_low, r.ci_high], [yv, yv], color=c, linewidth=2.2 if bold else 1.3)
        ax.plot([r.estimate], [yv], marker="D" if bold else "o", color=c, markersize=5 if bold else 4)
    labels = [f"{r.model_id} · {r.scenario_id}{' @' + r.factors if r.factors else ''} · {r.label}" for r in rows.itertuples()]
    ax.set_yticks(ypos)
    ax.set_yticklabels(labels, fontsize=6.5)
    ax.axvline(0, color="#333333", linewidth=0.9)
    ax.set_xlabel("difference in violation rate (positive = more toward the reference value R)", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    ax.grid(axis="x", alpha=0.3)
    groups = rows[["model_id", "scenario_id", "factors"]].astype(str).agg("|".join, axis=1).to_numpy()
    for k in np.flatnonzero(groups[1:] != groups[:-1]):
        ax.axhline(ypos[k] - 0.5, color="#bbbbbb", linewidth=0.6)
    ax.set_title("Oriented contrasts and pressure effects (95% CI)\ncolour = the reference value R", fontsize=9)
    return _png(fig)


def all_figures(step_rates: pd.DataFrame, km: pd.DataFrame, asym: pd.DataFrame, cond_attrs: pd.DataFrame,
                orient: dict[str, Orientation]) -> dict[str, Any]:
    """Every figure of the report, with one value → colour mapping shared by all of them. The
    cumulative "has violated by step t" curve is 1 − the Kaplan–Meier curve, so it is not drawn twice
    (its numbers are in the exports)."""
    values = set(cond_attrs["constraint_side"].astype(str)) | {o.reference for o in orient.values()}
    colours = value_colours(values)
    rates = step_rates.assign(undecided=step_rates["not_applicable"] + step_rates["errored"]) \
        if len(step_rates) else step_rates
    return {
        "drift": drift_grid(rates, cond_attrs, orient, colours, "rate", "violation rate",
                            "Violation rate per step\n(95% continuity-corrected Wilson CI)") if len(rates) else None,
        "km": km_grid(km, cond_attrs, orient, colours),
        "forest": forest(asym, colours),
        "colours": colours,
    }
