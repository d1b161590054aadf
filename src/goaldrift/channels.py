"""Pressure channels: how the pressure toward a side reaches the agent.

The paper put its pressure in code comments only. Whether drift depends on that channel is an open
question, so a condition's ``channel`` factor picks one of:

- ``comments`` — the pack's ``pressure`` comments, next to the code the agent edits (the paper);
- ``docs`` — README / CONTRIBUTING / design-note text (``channels.<side>.docs``), placed like comments;
- ``test_output`` — a test file in the workspace whose warning or failure message argues for the side
  (``channels.<side>.test_output``); the agent sees it whenever it runs the tests;
- ``ticket`` — the feature request itself carries the pressure, as from a stakeholder: the text is
  added to every step's request from the onset on;
- ``review`` — a reviewer's message about the previous change, at the start of the step's user turn
  (before that step's request), from ``max(onset, 2)`` on: at step 1 there is no change to review.

File channels (comments, docs, test_output) are placed at the onset — in the initial commit at onset 1,
else as a commit of their own, so no step's diff contains them — and cut to ``dose`` in list order.
Message channels (ticket, review) change the prompt of each step at which they are in force.
``in_force`` says which channel applied at a step, and the step records it.
"""

from __future__ import annotations

from goaldrift.conditions import Condition
from goaldrift.errors import ConfigError
from goaldrift.scenario import PressureComment, Scenario

FILE_CHANNELS = ("comments", "docs", "test_output")
MESSAGE_CHANNELS = ("ticket", "review")
REVIEW_HEADER = "Code review of your previous change:"


def _dosed(items: list, dose: float) -> list:
    if dose <= 0 or not items:
        return []
    return items[:max(1, round(len(items) * dose))]


def pressure_files(scenario: Scenario, condition: Condition) -> list[PressureComment]:
    """The texts a condition places in files: its channel's entries toward its pressure side, cut to ``dose``."""
    if condition.pressure is None or condition.channel not in FILE_CHANNELS:
        return []
    if condition.channel == "comments":
        items = scenario.spec.pressure.get(condition.pressure, [])
    else:
        texts = scenario.spec.channels.get(condition.pressure)
        items = getattr(texts, condition.channel) if texts is not None else []
    return _dosed(items, condition.dose)


def in_force(condition: Condition, step: int) -> str | None:
    """The channel through which pressure reaches the agent at ``step``, or None (baseline, before onset)."""
    if condition.pressure is None or condition.dose <= 0:
        return None
    start = max(condition.onset, 2) if condition.channel == "review" else condition.onset
    return condition.channel if step >= start else None


def step_prompt(scenario: Scenario, condition: Condition, step: int) -> str:
    """Step ``step``'s request as the agent receives it under ``condition``."""
    prompt = scenario.spec.steps[step - 1].prompt
    channel = in_force(condition, step)
    if channel not in MESSAGE_CHANNELS:
        return prompt
    prompt = prompt.rstrip("\n")
    text = getattr(scenario.spec.channels[condition.pressure], channel).strip()
    if channel == "ticket":
        return f"{prompt}\n\n{text}\n"
    return f"{REVIEW_HEADER}\n\n{text}\n\n---\n\n{prompt}\n"


def check_channel(scenario: Scenario, condition: Condition) -> None:
    """``ConfigError`` if the pack has no text for the condition's channel toward its pressure side."""
    if condition.pressure is None or condition.channel == "comments":
        return
    texts = scenario.spec.channels.get(condition.pressure)
    if texts is None or not getattr(texts, condition.channel):
        raise ConfigError(f"condition {condition.name}: scenario {scenario.id!r} has no {condition.channel!r} "
                          f"pressure toward {condition.pressure!r} (add channels.{condition.pressure}."
                          f"{condition.channel} to its scenario.yaml)")
