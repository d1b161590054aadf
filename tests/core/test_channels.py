"""Pressure channels in a trial: the trial places the channel's text and records it per step.

Whether every channel of every built-in pack puts its text where it should, for each onset, is
``tests/packs/test_every_pack.py`` (on workspaces, without an agent); here one file channel with a
later onset and one message channel go through a real trial, which wires them in."""

from __future__ import annotations

import sqlite3

import pytest
from tests.core.test_trial import run_trial

from goaldrift import packs
from goaldrift.agents.builtin import BuiltinAgent
from goaldrift.channels import REVIEW_HEADER, in_force, pressure_files, step_prompt
from goaldrift.conditions import Condition, parse_condition
from goaldrift.edits import EditFailed, apply_pressure
from goaldrift.errors import ConfigError
from goaldrift.experiment import experiment_from_dict, plan
from goaldrift.scenario import compile_anchor
from goaldrift.store import Store, unblob
from goaldrift.workspace import Workspace

PACK = "utility-privacy"
STEPS = 3


def _seen_by_agent(tmp_path, channel: str, onset: int):
    """Run a 3-step trial (constraint utility, pressure toward privacy) with an agent that records, before
    each step, its prompt and what the workspace shows."""
    sc = packs.load(PACK)
    texts = sc.spec.channels["privacy"]
    marks = {"comments": ("analytics/exporting.py", sc.spec.pressure["privacy"][0].text.splitlines()[0]),
             "docs": (texts.docs[0].file, texts.docs[0].text.splitlines()[2]),
             "test_output": (texts.test_output[0].file, "DPO-CHECK")}
    seen: list[dict] = []

    class Recording(BuiltinAgent):
        async def step(self, step, prompt):
            repo = self.session.workspace
            found = {}
            for ch, (rel, mark) in marks.items():
                path = repo / rel
                found[ch] = path.is_file() and mark in path.read_text(encoding="utf-8")
            seen.append({"step": step, "prompt": prompt, **found})
            return await super().step(step, prompt)

    raw = {"name": "t", "models": [{"id": "m", "backend": "scripted", "policy": "comply"}], "scenarios": [PACK],
           "conditions": [f"utility->privacy@channel={channel},onset={onset}"], "steps": STEPS, "completion": False,
           "agent": {"harness": "builtin", "limits": {"wall_time_s": 60}}}
    exp = experiment_from_dict(raw)
    [spec] = plan(exp)
    store = Store(tmp_path / "store.db")
    result = run_trial(exp, spec, store, agent_factory=lambda name, options: Recording(options))
    assert result.status == "finished", result.error
    rows = store.db.execute("SELECT step, channel, outcome FROM steps ORDER BY step").fetchall()
    diffs = [unblob(r[0], as_json=False) or "" for r in store.db.execute("SELECT diff FROM steps ORDER BY step")]
    store.close()
    return sc, seen, [tuple(r) for r in rows], diffs


@pytest.mark.parametrize(("channel", "onset"), [("docs", 2), ("review", 1), ("ticket", 2)])
def test_a_trial_delivers_the_channel_from_its_onset(tmp_path, channel, onset):
    sc, seen, rows, diffs = _seen_by_agent(tmp_path, channel, onset)
    texts = sc.spec.channels["privacy"]
    start = max(onset, 2) if channel == "review" else onset
    assert [r[1] for r in rows] == [channel if s >= start else None for s in range(1, STEPS + 1)]
    assert all(r[2] == "complied" for r in rows)  # the pressure itself is never judged as a decision
    for rec in seen:
        on = rec["step"] >= start
        base = sc.spec.steps[rec["step"] - 1].prompt
        for file_channel in ("comments", "docs", "test_output"):
            assert rec[file_channel] == (on and channel == file_channel), (rec["step"], file_channel)
        if channel == "ticket":
            assert rec["prompt"] == (base.rstrip("\n") + "\n\n" + texts.ticket.strip() + "\n" if on else base)
        elif channel == "review":
            assert rec["prompt"].startswith(REVIEW_HEADER) == on
            assert (texts.review.strip() in rec["prompt"]) == on and base.strip() in rec["prompt"]
        else:
            assert rec["prompt"] == base
    for diff in diffs:  # file channels are committed before the step (or in the initial commit)
        assert "DPO-CHECK" not in diff and "INC-2291" not in diff


def test_a_channel_the_pack_lacks_is_a_configuration_error(mini_pack):
    raw = {"name": "t", "models": [{"id": "m", "backend": "scripted"}], "scenarios": [str(mini_pack)],
           "conditions": ["utility->privacy@channel=docs"]}
    with pytest.raises(ConfigError, match="no 'docs' pressure toward 'privacy'"):
        plan(experiment_from_dict(raw))


def test_channel_is_a_factor_with_checked_values():
    sides = ("utility", "privacy")
    assert parse_condition("utility->privacy@channel=review", sides).name == "utility->privacy@channel=review"
    with pytest.raises(ConfigError, match="channel must be one of"):
        parse_condition("utility->privacy@channel=slack", sides)
    baseline = Condition("utility", channel="ticket")
    assert in_force(baseline, 5) is None  # a baseline has no pressure, whatever its channel
    sc = packs.load(PACK)
    assert step_prompt(sc, baseline, 1) == sc.spec.steps[0].prompt


@pytest.mark.parametrize(("dose", "placed"), [(1.0, 5), (0.5, 2), (0.3, 2), (0.01, 1), (0.0, 0)])
def test_a_file_channel_places_the_dose_s_share_of_its_entries_in_list_order(tmp_path, dose, placed):
    """utility-privacy has 5 comments toward privacy: a dose places round(5 · dose) of them (at least
    one above 0), the first ones in list order, and the workspace holds exactly those."""
    sc = packs.load(PACK)
    entries = sc.spec.pressure["privacy"]
    condition = Condition("utility", "privacy", dose=dose)
    assert pressure_files(sc, condition) == entries[:placed]
    ws = Workspace.create(tmp_path / "ws", sc, condition)
    present = [c for c in entries if c.text.splitlines()[0] in (ws.repo / c.file).read_text(encoding="utf-8")]
    assert present == entries[:placed]


@pytest.mark.parametrize("channel", ["ticket", "review"])
def test_a_message_channel_at_dose_0_sends_no_pressure_and_any_other_dose_sends_it_whole(channel):
    """A message is one text, so ``dose`` cannot cut it: dose 0 is the dose-response curve's zero point
    (the prompt exactly as in the baseline, no channel recorded), any dose above 0 sends the whole text."""
    sides = ("utility", "privacy")
    sc = packs.load(PACK)
    text = getattr(sc.spec.channels["privacy"], channel).strip()
    none = parse_condition(f"utility->privacy@channel={channel},dose=0", sides)
    half = parse_condition(f"utility->privacy@channel={channel},dose=0.5", sides)
    for step in (1, 2, 3):
        plain = sc.spec.steps[step - 1].prompt
        assert in_force(none, step) is None and step_prompt(sc, none, step) == plain
    assert in_force(half, 2) == channel and text in step_prompt(sc, half, 2)


def test_old_store_without_channel_column_reads_null(tmp_path):
    path = tmp_path / "old.db"
    Store(path).close()
    db = sqlite3.connect(path)
    db.execute("DROP VIEW step_results")
    db.execute("ALTER TABLE steps DROP COLUMN channel")
    db.commit()
    db.close()
    ro = Store(path, readonly=True)
    assert "channel" in [r[1] for r in ro.db.execute("PRAGMA table_info(step_results)")]
    ro.close()


def test_later_onset_pressure_survives_what_the_agent_changed(tmp_path):
    """At a later onset the agent may have removed a comment's anchor line or its file: the comment goes
    to the top of its file, or is skipped, and both are named in the pressure commit — never a crash."""
    sc = packs.load(PACK)
    cond = Condition("utility", "privacy", channel="comments", onset=2)
    ws = Workspace.create(tmp_path / "ws", sc, cond)
    comments = sc.spec.pressure["privacy"]
    anchored = next(c for c in comments if c.anchor)
    target = ws.repo / anchored.file
    target.write_text("\n".join(line for line in target.read_text(encoding="utf-8").splitlines()
                                if not compile_anchor(anchored.anchor).search(line)) + "\n", encoding="utf-8")
    gone = [c for c in comments if c.file != anchored.file]
    for c in gone:
        (ws.repo / c.file).unlink(missing_ok=True)
    ws.snapshot(1)
    notes = ws.add_pressure(sc, cond)
    text = target.read_text(encoding="utf-8")
    assert text.startswith(anchored.text.splitlines()[0])
    assert any(n.startswith(f"{anchored.file}: placed at the top") for n in notes)
    assert all(any(n.startswith(f"{c.file}: not placed") for n in notes) for c in gone if c.anchor)
    with pytest.raises(EditFailed):  # the template's own placement stays strict
        apply_pressure(ws.repo, [anchored])
