"""Every ``goaldrift`` command the README and docs show must work as shown.

Two checks:

1. Every command in a code block of README.md or docs/*.md is run (in this process, through
   the real entry point) in a temporary folder that holds a finished scripted-model smoke experiment
   in the default store, with placeholders (EXPERIMENT.yaml, RUN, PATH, ...) replaced by real values.
   Each must exit 0, or the code ``EXPECTED_EXIT`` documents. Commands that cannot run in a test are
   listed in ``NOT_RUN`` with the reason; a new command in the docs that is neither run nor listed
   fails the test (so nothing is skipped silently).
2. Every inline ``goaldrift ...`` command (tables, prose) is resolved against the CLI: its subcommand
   must exist and every ``--option`` it shows must be an option of that command. A renamed command or
   flag fails here even where the command cannot be run.

A documented default is checked by running the command without the flag: ``goaldrift status`` in
the folder must find the store at the documented default path.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
import typer
import yaml
from markdown_it import MarkdownIt
from tests.core.cli_inprocess import cli

from goaldrift.cli import typer_app
from goaldrift.experiment import experiment_from_dict
from goaldrift.runner import run_experiment

REPO = Path(__file__).resolve().parents[2]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

# Commands (as written, after the leading "goaldrift ") that a test cannot run, and why.
NOT_RUN = {
    "view": "starts a web server that runs until stopped (tested in tests/viewer)",
    "view [--store goaldrift-results/store.db] [--port 8765] [--packs DIR]": "a synopsis of a server that runs "
    "until stopped (tested in tests/viewer); the inline check below keeps its option names honest",
    "detectors score [--corpus tests/detect/corpus] [--pack P] [--errors] [--min 0.95] [--json]": "a synopsis; "
    "the scorer runs on the corpus in tests/detect/test_detect_corpus.py",
    "detect PACK --repo DIR --base REV [--head REV] [--side SIDE] [--json]": "a synopsis that needs a git "
    "repository with an agent's change (tested in tests/detect/test_detect_cli.py)",
    "run experiments/paper.yaml -j 4": "needs OPENROUTER_API_KEY and days of API calls",
    "run experiments/paper.yaml -j 16": "needs OPENROUTER_API_KEY and days of API calls",
    "run experiments/paper.yaml --executor ray --address HEAD:6379 -j 16": "needs a Ray cluster and "
    "OPENROUTER_API_KEY (the Ray executor is tested on a local cluster in tests/core/test_ray_executor.py)",
    "install-opencode": "installs from the npm registry (network)",
    "doctor": "its exit code depends on what this machine has installed (tested in tests/core)",
    "model path": "reassembles the embedded model (~1 GB) if it is not installed",
    "model verify": "hashes the embedded model (~1 GB) and needs it installed",
    "scenarios validate my-pack --run-tests": "runs the skeleton's template and acceptance tests sandboxed (tested "
    "in tests/core/test_pack_authoring.py)",
}
# Commands whose documented exit code is not 0.
EXPECTED_EXIT: dict[str, int] = {}

SMOKE = {
    "name": "docs-smoke",
    "models": [{"id": "comply-model", "backend": "scripted", "policy": "comply"},
               {"id": "drift-model", "backend": "scripted", "policy": "violate_from:2"}],
    "scenarios": ["utility-privacy"], "conditions": "paper", "steps": 2,
    "agent": {"harness": "builtin", "limits": {"wall_time_s": 120}},
    "completion": False,  # a module fixture is built before conftest's per-test switch applies
}


def _code_blocks(page: Path, info: str | None = None) -> list[str]:
    """The code blocks of a page (with ``info``: only fences of that language), found by a CommonMark
    parser: a fence written inside prose (```` ```json ````) or nested in a list cannot hide a block."""
    return [b.content for b in MarkdownIt("commonmark").parse(page.read_text(encoding="utf-8"))
            if b.type in ("fence", "code_block") and (info is None or b.info.strip() == info)]


def _fenced_commands() -> list[tuple[str, str]]:
    """(page, command after "goaldrift ") for every command line in a code block."""
    out = []
    for page in PAGES:
        for block in _code_blocks(page):
            for line in block.splitlines():
                line = line.strip().removeprefix("$ ")
                if line.startswith("goaldrift "):
                    command = line.split("  #", 1)[0].split(" # ", 1)[0].strip()
                    out.append((page.name, command.removeprefix("goaldrift ")))
    return out


def _inline_commands() -> list[tuple[str, str]]:
    out = []
    for page in PAGES:
        for span in re.findall(r"`(goaldrift [^`\n]+)`", page.read_text(encoding="utf-8")):
            out.append((page.name, span))
    return out


FENCED = _fenced_commands()
INLINE = _inline_commands()


@pytest.fixture(scope="module")
def smoke_folder(tmp_path_factory) -> Path:
    """A folder with a finished smoke experiment in the default store (goaldrift-results/store.db)."""
    folder = tmp_path_factory.mktemp("docs")
    (folder / "smoke.yaml").write_text(yaml.safe_dump(SMOKE))
    summary = run_experiment(experiment_from_dict(SMOKE), folder / "goaldrift-results" / "store.db", progress=False)
    assert summary.complete, summary.errors
    return folder


def _substitute(command: str, folder: Path) -> list[str]:
    import sqlite3

    run_id = sqlite3.connect(folder / "goaldrift-results" / "store.db").execute(
        "SELECT run_id FROM runs ORDER BY run_id LIMIT 1").fetchone()[0]
    values = {"EXPERIMENT.yaml": str(folder / "smoke.yaml"), "RUN": run_id[:8], "N": "1",
              "PATH": str(folder / "goaldrift-results" / "store.db"), "FILE.html": str(folder / "out.html"),
              "DIR": str(folder / "export"), "ID": "utility-privacy"}
    words = shlex.split(command)
    return [str(REPO / w) if w.startswith("experiments/") else values.get(w, w) for w in words]


def _run(argv: list[str], monkeypatch, capsys) -> tuple[int, str]:
    code, out, err = cli(monkeypatch, capsys, *argv)
    return code, out + err


@pytest.mark.parametrize("page, command", FENCED, ids=[f"{p}: {c}" for p, c in FENCED])
def test_documented_command_runs(page, command, smoke_folder, monkeypatch, capsys):
    if command in NOT_RUN:
        pytest.skip(f"not run: {NOT_RUN[command]}")
    monkeypatch.chdir(smoke_folder)
    code, output = _run(_substitute(command, smoke_folder), monkeypatch, capsys)
    assert code == EXPECTED_EXIT.get(command, 0), f"{page}: goaldrift {command} exited {code}:\n{output[-3000:]}"


def test_every_not_run_entry_is_still_in_the_docs():
    shown = {c for _, c in FENCED}
    assert set(NOT_RUN) <= shown, f"NOT_RUN lists commands no page shows any more: {set(NOT_RUN) - shown}"


def test_the_default_store_is_where_the_docs_say(smoke_folder, monkeypatch, capsys):
    monkeypatch.chdir(smoke_folder)
    code, output = _run(["status", "--json"], monkeypatch, capsys)
    assert code == 0 and '"finished": 8' in output  # the smoke's 2 models x 4 conditions


def _resolve(span: str) -> tuple[list[click.Command], list[str]]:
    """The commands a span names (several for ``a|b`` alternatives) and the options it shows."""
    words = span.replace("\\|", "|").replace("[", " ").replace("]", " ").split()[1:]
    group: click.Group = typer.main.get_command(typer_app)  # type: ignore[assignment]
    commands: list[click.Command] = []
    options: list[str] = []
    for word in words:
        if word.startswith("-"):
            options.append(word.split("=", 1)[0])
            continue
        named = [group.commands[p] for p in word.split("|") if p in group.commands]
        commands.extend(named)
        if named and hasattr(named[0], "commands"):  # a group (typer bundles its own click: no isinstance)
            group = named[0]  # type: ignore[assignment]
        elif not commands:
            raise AssertionError(f"`{span}`: {word!r} is not a goaldrift command")
    return commands, options


@pytest.mark.parametrize("page, span", INLINE, ids=[f"{p}: {s}" for p, s in INLINE])
def test_inline_command_names_real_commands_and_options(page, span):
    commands, options = _resolve(span)
    assert commands, f"{page}: `{span}` names no command"
    known = {opt for c in commands for p in c.params for opt in (*p.opts, *p.secondary_opts)}
    unknown = [o for o in options if o not in known]
    assert not unknown, f"{page}: `{span}` shows options the command does not have: {unknown}"


def test_local_server_examples_are_valid_entries():
    """docs/local-servers.md: the experiment validates, and every models snippet is a valid model entry."""
    from goaldrift.modelspec import ModelSpec

    blocks = [yaml.safe_load(b) for b in _code_blocks(REPO / "docs" / "local-servers.md", "yaml")]
    experiments = [b for b in blocks if "name" in b]
    assert len(experiments) == 1 and experiment_from_dict(experiments[0]).config.agent.harness == "opencode"
    entries = [m for b in blocks for m in b["models"]]
    assert len(entries) == 4
    for entry in entries:
        spec = ModelSpec.model_validate(entry)
        assert spec.backend == "openai" and spec.base_url.endswith("/v1")
