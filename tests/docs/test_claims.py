"""Claims of the README and docs that name things the code enumerates: the packs and their reference
sides, the harnesses, the test markers, what the set-up script installs, doctor's required checks, a
detector default, and every relative link. Each was found stale once in a claim audit (a pack or a
harness added without its line); a test compares the sentence with the code so the next one fails here.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from goaldrift import packs
from goaldrift.agents.registry import HARNESSES
from goaldrift.cli import doctor
from goaldrift.detect.credentials import CredentialStateParams

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    return text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def test_every_built_in_pack_is_a_row_of_the_readme_pack_table_with_its_step_count():
    section = _section(README, "Built-in scenario packs")
    rows = set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.MULTILINE))
    assert rows == set(packs.available())
    prose = " ".join(section.split())
    assert "12 feature requests" in prose
    for pack in rows:  # a pack that is not 12 steps long is named with its count
        n = len(packs.load(pack).spec.steps)
        assert n == 12 or f"`{pack}`: {n})" in prose, pack


def test_the_readme_names_every_harness_an_experiment_accepts():
    listed = re.search(r"`harness: ([a-z| -]+)`", README)
    assert listed is not None
    assert sorted(h.strip() for h in listed.group(1).split("|")) == sorted(HARNESSES)


def test_the_readme_names_every_test_marker():
    markers = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["markers"]
    tests = README.split("\nTests: ", 1)[1]
    for marker in (m.split(":", 1)[0] for m in markers):
        assert f"`{marker}`" in tests, marker


@pytest.mark.parametrize("check, required", [(doctor.check_opencode, True), (doctor.check_sandbox, True),
                                             (doctor.check_local_model, False)])
def test_doctor_requires_what_the_opencode_page_says_it_requires(check, required):
    """docs/opencode.md: OpenCode and the sandbox are required (doctor exits 1 without them), the local
    model is reported but optional."""
    found = check()
    for c in found if isinstance(found, list) else [found]:
        if c.name in ("opencode", "sandbox", "network isolation", "gateway route", "llama-cpp-python",
                      "local model"):
            assert c.required is required, c


def test_the_credential_fixtures_default_is_the_documented_one():
    page = (REPO / "docs" / "detectors.md").read_text(encoding="utf-8")
    documented = re.search(r"Files matching `fixtures` \(default: ([^)]*)\)", page)
    assert documented is not None
    assert re.findall(r"`([^`]+)`", documented.group(1)) == CredentialStateParams.model_fields["fixtures"].default_factory()


def test_the_analysis_page_names_each_built_in_packs_reference_side():
    """docs/analysis.md names, for every built-in pack, the side R the asymmetry is oriented toward."""
    page = " ".join((REPO / "docs" / "analysis.md").read_text(encoding="utf-8").split())
    sentence = page.split("The built-in packs declare ", 1)[1].split(". The report's design", 1)[0]
    for pack in packs.available():
        spec = packs.load(pack).spec
        if spec.expected_stronger is None:
            assert f"{pack} declares none and gets {spec.stronger_side}" in sentence, pack
        else:
            assert re.search(rf"{spec.expected_stronger} \([a-z, -]*\b{pack}\b", sentence), pack


def _anchor(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped (``_`` and ``-`` kept), spaces to ``-``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_and_its_anchor_resolve():
    from markdown_it import MarkdownIt

    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    anchors = {}
    for page in pages:
        tokens = MarkdownIt("commonmark").parse(page.read_text(encoding="utf-8"))
        anchors[page] = {_anchor(tokens[i + 1].content) for i, t in enumerate(tokens) if t.type == "heading_open"}
    broken = []
    for page in pages:
        for target, anchor in re.findall(r"\]\(([^)#\s]*)(?:#([^)\s]+))?\)", page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://")):
                continue
            path = (page.parent / target).resolve() if target else page
            if not path.exists():
                broken.append(f"{page.name}: {target} does not exist")
            elif anchor and path in anchors and anchor not in anchors[path]:
                broken.append(f"{page.name}: {target}#{anchor} names no heading")
    assert not broken, broken


def test_the_readme_names_the_extras_and_harnesses_the_setup_script_installs():
    setup = (REPO / "scripts" / "setup").read_text(encoding="utf-8")
    extras = re.search(r"pip install -q -e '\.\[([a-z,]+)\]'", setup)
    assert extras is not None
    sentence = " ".join(README.split("Both first run `scripts/setup`", 1)[1].split("Nothing is fetched", 1)[0].split())
    for extra in extras.group(1).split(","):
        assert f"`{extra}`" in sentence, extra
    for harness in re.search(r"for harness in ([a-z -]+); do", setup).group(1).split():
        assert {"claude-code": "Claude Code", "codex": "Codex CLI", "qwen-code": "Qwen Code"}[harness] in sentence
