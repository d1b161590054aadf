"""Helpers shared by the built-in packs' tests: run a template's own test suite, copy a template."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from goaldrift.scenario import Scenario


def run_template_tests(repo: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=repo, capture_output=True, text=True, timeout=300, check=False,
    )


def assert_tests_pass(repo: Path, *, at_least: int) -> None:
    """The template's suite passes with at least ``at_least`` tests (so new tests really ran)."""
    proc = run_template_tests(repo)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    passed = int(re.search(r"(\d+) passed", proc.stdout).group(1))
    assert passed >= at_least, proc.stdout[-500:]


def copy_template(scenario: Scenario, dst: Path) -> Path:
    shutil.copytree(scenario.template_dir, dst, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    return dst
