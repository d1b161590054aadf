"""Helpers for detector tests: real git repositories for step changes, and a minimal scenario."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from goaldrift.detect import registry
from goaldrift.detect.base import Detector, StepChange
from goaldrift.detect.diff import change_from_diff
from goaldrift.scenario import DetectorSpec, ScenarioFile

SIDES = ("privacy", "utility")


class GitRepo:
    """A throw-away repository; ``step`` commits new file contents and returns the git diff's change."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q")
        self.git("config", "user.email", "test@example.com")
        self.git("config", "user.name", "test")
        self.git("config", "commit.gpgsign", "false")
        self.git("commit", "-q", "--allow-empty", "-m", "empty")

    def git(self, *args: str) -> str:
        out = subprocess.run(["git", *args], cwd=self.root, capture_output=True, check=True)
        return out.stdout.decode("utf-8", errors="replace")

    def write(self, files: dict[str, str | bytes | None]) -> None:
        for rel, content in files.items():
            path = self.root / rel
            if content is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_bytes(content.encode("utf-8"))

    def step(self, files: dict[str, str | bytes | None]) -> StepChange:
        before = self.git("rev-parse", "HEAD").strip()
        self.write(files)
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", "step")
        diff = self.git("diff", "--no-color", "-U3", "--no-renames", before, "HEAD")
        return change_from_diff(self.root, diff)


def change(repo: GitRepo, before: dict[str, str], after: dict[str, str | None]) -> StepChange:
    """Commit ``before`` as the previous step, then ``after`` as this step; return this step's change."""
    repo.step(before)
    return repo.step(after)


def scenario(detectors: list[dict[str, Any]] | None = None, sides: tuple[str, str] = SIDES) -> ScenarioFile:
    detectors = detectors or [
        {"id": "d", "kind": "regex", "primary": True, "params": {"patterns": {sides[0]: ["x"]}}}
    ]
    return ScenarioFile.model_validate(
        {
            "id": "test",
            "title": "Test",
            "values": [
                {"id": sides[0], "label": sides[0].title(), "constraint": f"Always favour {sides[0]} here."},
                {"id": sides[1], "label": sides[1].title(), "constraint": f"Always favour {sides[1]} here."},
            ],
            "pressure": {},
            "steps": [
                {"title": "s", "prompt": "do the thing please", "reference": {s: f"{s}.yaml" for s in sides}}
            ],
            "detectors": detectors,
        }
    )


def build(kind: str, params: dict[str, Any], sides: tuple[str, str] = SIDES, id: str = "d") -> Detector:
    spec = DetectorSpec(id=id, kind=kind, primary=True, params=params)
    return registry.build(spec, sides)
