"""The viewer in real headless Chromium: overview -> violated step -> evidence line -> keyboard label ->
reload; the disagreement queue by keyboard; hostile stored text stays text. No console errors anywhere.

Screenshots of every page go to $GOALDRIFT_SCREENSHOTS (or the test's tmp dir), never into git.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest
from tests.viewer.cdp import CHROMIUM, Browser
from tests.viewer.conftest import HOSTILE, disputed_step, plant_hostile, serve

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (/usr/bin/chromium)")]


@pytest.fixture
def browser(tmp_path):
    b = Browser(tmp_path / "profile")
    yield b
    b.close()


def shots(tmp_path: Path) -> Path:
    d = Path(os.environ.get("GOALDRIFT_SCREENSHOTS") or tmp_path / "shots")
    d.mkdir(parents=True, exist_ok=True)
    return d


def test_overview_to_evidence_to_a_persisted_keyboard_label(store_copy, browser, tmp_path):
    db = sqlite3.connect(store_copy)
    attempt_id, step = disputed_step(db)
    run_id = db.execute("SELECT run_id FROM attempts WHERE attempt_id=?", (attempt_id,)).fetchone()[0]
    evidence = json.loads(db.execute("SELECT evidence_json FROM steps WHERE attempt_id=? AND step=?",
                                     (attempt_id, step)).fetchone()[0])[0]
    out = shots(tmp_path)
    with serve(store_copy) as base:
        b = browser
        b.goto(base + "/")
        b.wait("document.querySelectorAll('.grid .panel').length === 2")  # one value pair × two models
        b.wait("document.querySelectorAll('table.runs tr').length === 9")  # header + 8 runs
        b.screenshot(out / "overview.png")
        # the drifting model under the utility constraint: step 5 is red (100%); click it
        cell = f"a.sq[href*='model=drift-model'][href*='condition=utility&'][data-step='{step}']"
        assert b.eval(f"document.querySelector({cell!r}).textContent").startswith("100%")
        b.click(cell)
        b.wait("location.search.includes('outcome=violated') && document.querySelectorAll('table.runs tr').length === 2")
        b.click(f"table.runs .mini a[href='/runs/{run_id}/steps/{step}']")
        b.wait("!!document.querySelector('tr.evidence')")
        assert b.eval("location.pathname") == f"/runs/{run_id}/steps/{step}"
        marked = b.eval("Array.from(document.querySelectorAll('tr.evidence')).map(r => "
                        "[r.closest('.diff').querySelector('.file').textContent, r.cells[1].textContent, r.cells[2].textContent])")
        # the deciding detector's evidence line is marked (a probe's snippet describes behaviour, so
        # the marked row shows the code at that line, not the snippet)
        row = next(m for m in marked if m[:2] == [evidence["file"], str(evidence["line"])])
        assert row[2].strip()
        assert b.eval("document.querySelector('.timeline a.current').textContent").startswith(str(step))
        b.screenshot(out / "run.png")
        # label with the keyboard: a note, then "c"
        b.press("/")
        b.type("judge is wrong? no: anonymize=True here")
        b.press("Escape")
        b.press("c")
        b.wait("document.querySelector('.labelbar').dataset.label === 'complied'")
        b.press("v")
        b.wait("document.querySelector('.labelbar').dataset.label === 'violated'")
        assert db.execute("SELECT outcome, note FROM labels WHERE attempt_id=? AND step=?", (attempt_id, step)).fetchone() \
            == ("violated", "judge is wrong? no: anonymize=True here")
        b.send("Page.reload")
        b.wait("!!document.querySelector('.labelbar') && document.querySelector('.labelbar').dataset.label === 'violated'")
        assert b.eval("document.querySelector('.labelbar input').value") == "judge is wrong? no: anonymize=True here"
        assert b.eval(f"document.querySelector('.timeline a[data-step=\"{step}\"]').classList.contains('labelled')")
        # keyboard navigation to the next step
        b.press("ArrowRight")
        b.wait(f"location.pathname === '/runs/{run_id}/steps/{step + 1}'")
        b.goto(base + "/agreement")
        b.wait("document.querySelectorAll('table tr').length >= 2")
        b.screenshot(out / "agreement.png")
        b.pump(0.5)
    assert b.errors == []


def test_the_disagreement_queue_by_keyboard(store_copy, browser, tmp_path):
    db = sqlite3.connect(store_copy)
    attempt_id, step = disputed_step(db)
    with serve(store_copy) as base:
        b = browser
        b.goto(base + "/queue")
        b.wait("document.querySelectorAll('.queue .item').length === 1")
        b.screenshot(shots(tmp_path) / "queue.png")
        b.press("/")
        b.type("the judge missed the keyword")
        b.press("Enter")
        b.press("n")
        b.wait("document.querySelector('.queue .item').textContent.includes('labelled')")
        b.send("Page.reload")  # labelled steps leave the (unlabelled) queue
        b.wait("!!document.querySelector('.queue') && document.querySelector('.queue').textContent.includes('Nothing left to label')")
        b.pump(0.3)
    assert db.execute("SELECT outcome, note FROM labels WHERE attempt_id=? AND step=?", (attempt_id, step)).fetchone() \
        == ("not_applicable", "the judge missed the keyword")
    assert b.errors == []


def test_hostile_stored_text_shows_as_text(store_copy, browser, tmp_path):
    run_id, step = plant_hostile(store_copy)
    with serve(store_copy) as base:
        b = browser
        b.goto(f"{base}/runs/{run_id}/steps/{step}")
        b.wait("!!document.querySelector('.diff')")
        b.pump(0.5)
        b.screenshot(shots(tmp_path) / "hostile.png")
        assert b.eval("typeof window.__pwned") == "undefined"
        assert b.eval("document.querySelectorAll('main img, main script').length") == 0
        shown = b.eval("document.querySelector('main').innerText")
        assert shown.count(HOSTILE) >= 3  # the step error, the evidence, the assistant's text
        assert "# " + HOSTILE in shown  # the diff line
        b.goto(f"{base}/queue?all=1")
        b.wait("document.querySelectorAll('.queue .item').length >= 1")
        assert b.eval("typeof window.__pwned") == "undefined"
    assert b.errors == []
