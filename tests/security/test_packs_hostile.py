"""Hostile scenario packs: each is refused with exit 2 and a file/field/reason message, nothing written.

A pack is data from someone else that goaldrift reads on the host and copies into every workspace:
it must not be able to pull host files in (symlinks, absolute or ``..`` paths), block or exhaust the
loader (FIFOs, sparse files, alias bombs, backtracking anchors), or run its tests unconfined.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
import yaml
from tests.conftest import run_cli

from goaldrift import packs
from goaldrift.conditions import Condition
from goaldrift.scenario import load_scenario
from goaldrift.scenario_check import _template_tests
from goaldrift.workspace import Workspace

pytestmark = pytest.mark.timeout(300)


def edit_yaml(pack: Path, change) -> None:
    path = pack / "scenario.yaml"
    raw = yaml.safe_load(path.read_text())
    change(raw)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))


def set_anchor(pattern: str):
    def change(raw):
        raw["pressure"]["privacy"][0]["anchor"] = pattern
    return change


def _symlink_out_absolute(pack: Path, secret: Path) -> None:
    (pack / "template" / "app" / "leak.txt").symlink_to(secret)


def _symlink_out_relative(pack: Path, secret: Path) -> None:
    (pack / "template" / "app" / "leak.txt").symlink_to(os.path.relpath(secret, pack / "template" / "app"))


def _template_absolute(pack: Path, secret: Path) -> None:
    edit_yaml(pack, lambda raw: raw.update(template=str(secret.parent)))


def _template_dotdot(pack: Path, secret: Path) -> None:
    edit_yaml(pack, lambda raw: raw.update(template="../outside"))


def _template_symlinked(pack: Path, secret: Path) -> None:
    os.rename(pack / "template", pack / "real-template")
    (pack / "template").symlink_to(secret.parent)


def _reference_dotdot(pack: Path, secret: Path) -> None:
    edit_yaml(pack, lambda raw: raw["steps"][0]["reference"].update(privacy="../../etc/passwd"))


def _reference_symlinked(pack: Path, secret: Path) -> None:
    ref = pack / "references" / "01-privacy.yaml"
    ref.unlink()
    ref.symlink_to(secret)


def _sparse_file(pack: Path, secret: Path) -> None:
    with open(pack / "template" / "data.bin", "wb") as f:
        f.truncate(1 << 30)


def _fifo(pack: Path, secret: Path) -> None:
    os.mkfifo(pack / "template" / "app" / "pipe.py")


def _reference_fifo(pack: Path, secret: Path) -> None:
    ref = pack / "references" / "02-utility.yaml"
    ref.unlink()
    os.mkfifo(ref)


def _backreference_anchor(pack: Path, secret: Path) -> None:
    edit_yaml(pack, set_anchor(r"^(def)\s+\1"))


def _catastrophic_anchor(pack: Path, secret: Path) -> None:
    # Backtracking engines take exponential time on this line; RE2 answers in linear time.
    (pack / "template" / "app" / "exporting.py").write_text("a" * 40_000 + "b\n")
    edit_yaml(pack, set_anchor(r"^(a|aa)+$"))


def _alias_bomb(pack: Path, secret: Path) -> None:
    text = (pack / "scenario.yaml").read_text()
    bomb = "x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n" + "".join(
        f"x{i}: &x{i} [*x{i - 1}, *x{i - 1}, *x{i - 1}, *x{i - 1}, *x{i - 1}, *x{i - 1}, *x{i - 1}, *x{i - 1}]\n"
        for i in range(1, 9))
    (pack / "scenario.yaml").write_text(text.replace("detectors:", "bomb_anchor_holder:\n" + textwrap.indent(
        bomb, "  ") + "detectors:", 1))


def _duplicate_key(pack: Path, secret: Path) -> None:
    text = (pack / "scenario.yaml").read_text()
    (pack / "scenario.yaml").write_text(text.replace("detectors:", "title: A second title\ndetectors:", 1))


def _reference_not_utf8(pack: Path, secret: Path) -> None:
    (pack / "references" / "01-privacy.yaml").write_bytes(b"summary: caf\xe9\nops: []\n")


def _template_nul(pack: Path, secret: Path) -> None:
    edit_yaml(pack, lambda raw: raw.update(template="temp\0late"))  # os.* raised ValueError: a traceback


CASES = {
    "template-nul": (_template_nul, "scenario.yaml: template", "control character"),
    "duplicate-key": (_duplicate_key, "scenario.yaml", "duplicate key 'title'"),
    "reference-not-utf8": (_reference_not_utf8, "references/01-privacy.yaml", "not UTF-8"),
    "symlink-absolute": (_symlink_out_absolute, "template/app/leak.txt", "symlink to the absolute path"),
    "symlink-relative": (_symlink_out_relative, "template/app/leak.txt", "leads outside the template"),
    "template-absolute": (_template_absolute, "scenario.yaml: template", "must be a relative path"),
    "template-dotdot": (_template_dotdot, "scenario.yaml: template", "'..'"),
    "template-symlinked": (_template_symlinked, "scenario.yaml: template", "is a symlink"),
    "reference-dotdot": (_reference_dotdot, "scenario.yaml: steps.0(step 1).reference", "'..'"),
    "reference-symlinked": (_reference_symlinked, "references/01-privacy.yaml", "leads outside the pack"),
    "sparse-1gb": (_sparse_file, "template/data.bin", "1073741824 bytes, more than"),
    "fifo": (_fifo, "template/app/pipe.py", "a fifo cannot be part"),
    "reference-fifo": (_reference_fifo, "references/02-utility.yaml", "fifo"),
    "backreference-anchor": (_backreference_anchor, "pressure.privacy.0.anchor", "not a regex RE2 accepts"),
    "catastrophic-anchor": (_catastrophic_anchor, "pressure.privacy.0.anchor", "matches no line"),
    "alias-bomb": (_alias_bomb, "scenario.yaml", "alias bomb"),
}


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "host" / "secret.txt"
    path.parent.mkdir()
    path.write_text("HOST-SECRET-CONTENT\n")
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_hostile_pack_is_refused_with_file_field_and_reason(case, mini_pack, secret):
    make, where, reason = CASES[case]
    make(mini_pack, secret)

    result = run_cli("scenarios", "validate", str(mini_pack))

    message = " ".join(result.stderr.split())  # the console wraps long lines
    assert result.returncode == 2, result.stdout + result.stderr
    assert where in message and reason in message, result.stderr
    assert "Traceback" not in message and "HOST-SECRET-CONTENT" not in message


def test_run_with_a_hostile_pack_writes_nothing(mini_pack, secret, tmp_path):
    _symlink_out_absolute(mini_pack, secret)
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump({"name": "t", "models": [{"id": "c", "backend": "scripted"}],
                                   "scenarios": [str(mini_pack)], "agent": {"harness": "builtin"}}))
    out = tmp_path / "results"

    result = run_cli("run", str(exp), "--store", str(out / "store.db"), "--no-progress")

    assert result.returncode == 2 and "leak.txt" in result.stderr, result.stderr
    assert not out.exists()


def test_a_symlink_inside_the_template_is_copied_as_a_symlink(mini_pack, tmp_path):
    (mini_pack / "template" / "app" / "alias.py").symlink_to("exporting.py")
    (mini_pack / "template" / "docs").symlink_to("app")
    scenario = load_scenario(mini_pack)

    ws = Workspace.create(tmp_path / "w", scenario, Condition("privacy"))

    assert os.readlink(ws.repo / "app" / "alias.py") == "exporting.py"
    assert os.readlink(ws.repo / "docs") == "app"


def test_the_pack_digest_ignores_caches_but_not_content(mini_pack):
    before = load_scenario(mini_pack).digest
    template = mini_pack / "template"
    for cache in (".pytest_cache/v/cache", "app/__pycache__", ".mypy_cache", ".ruff_cache", "node_modules/x"):
        (template / cache).mkdir(parents=True)
        (template / cache / "data").write_text("cache")
    (template / "app" / "__pycache__" / "exporting.cpython-311.pyc").write_bytes(b"\0pyc")
    (mini_pack / "references" / "stale.pyc").write_bytes(b"\0pyc")

    assert load_scenario(mini_pack).digest == before
    (template / "app" / "__init__.py").write_text("# changed\n")
    assert load_scenario(mini_pack).digest != before


def test_a_builtin_pack_keeps_its_digest():
    # Run ids hash the digest: the safe reader must hash exactly what the old reader hashed.
    scenario = packs.load("utility-privacy")
    import hashlib

    h = hashlib.sha256()
    for p in sorted(scenario.root.rglob("*")):
        if p.is_file() and not {"__pycache__", ".pytest_cache"} & set(p.parts) and p.suffix != ".pyc":
            h.update(p.relative_to(scenario.root).as_posix().encode() + b"\0")
            h.update(p.read_bytes())
    assert scenario.digest == h.hexdigest()


def _listener() -> tuple[socket.socket, list]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.5)
    hits: list = []

    def accept():
        try:
            hits.append(server.accept())
        except OSError:
            pass

    threading.Thread(target=accept, daemon=True).start()
    return server, hits


@pytest.mark.skipif(not Workspace(Path("."), Path(".")).sandbox, reason="bubblewrap is not installed")
def test_pack_tests_run_confined(tmp_path, monkeypatch):
    server, hits = _listener()
    secret = tmp_path / "secret.txt"
    secret.write_text("HOST-SECRET")
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "tests" / "test_escape.py").write_text(textwrap.dedent(f"""
        import os, socket
        def test_contained():
            escapes = []
            try:
                socket.create_connection(("127.0.0.1", {server.getsockname()[1]}), timeout=2)
                escapes.append("network")
            except OSError:
                pass
            try:
                open({str(secret)!r}).read()
                escapes.append("host file")
            except OSError:
                pass
            if "GD_FAKE_API_KEY" in os.environ:
                escapes.append("environment")
            if os.path.exists("/etc/shadow"):
                escapes.append("/etc")
            print("ESCAPES", escapes)
            assert escapes == []
    """))
    monkeypatch.setenv("GD_FAKE_API_KEY", "sk-x")

    failure = _template_tests(repo, timeout=120)

    assert failure is None, failure
    assert not hits
    # Control: the same test run directly on the host does escape, so the probes are real.
    direct = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"], cwd=repo,
                            capture_output=True, text=True, check=False)
    server.close()
    assert direct.returncode == 1 and "ESCAPES ['network', 'host file', 'environment', '/etc']" in direct.stdout, direct.stdout


@pytest.mark.skipif(not Workspace(Path("."), Path(".")).sandbox, reason="bubblewrap is not installed")
def test_pack_tests_that_hang_are_killed(tmp_path):
    repo = tmp_path / "repo"
    (repo / "tests").mkdir(parents=True)
    (repo / "tests" / "test_hang.py").write_text("import time\n\ndef test_hang():\n    time.sleep(600)\n")

    failure = _template_tests(repo, timeout=3)

    assert failure == "the template's tests did not finish within 3 s (killed)"
