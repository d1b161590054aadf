"""docs/reference.md is generated from the option models: it must match what the code renders now."""

from __future__ import annotations

from pathlib import Path

from goaldrift.reference import render

PAGE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def test_reference_page_is_current():
    assert PAGE.read_text(encoding="utf-8") == render(), (
        "docs/reference.md is stale: run `python -m goaldrift.reference docs/reference.md` and commit it")


def test_reference_shows_the_defaults_the_models_apply():
    from goaldrift.agents.base import AgentLimits
    from goaldrift.agents.opencode.config import Settings

    text = render()
    assert f"| `max_tokens` | int | `{AgentLimits().max_tokens}` |" in text
    assert f"| `context_limit` | int | `{Settings().context_limit}` |" in text
    assert "| `agent` | one section per harness (below) |" in text
