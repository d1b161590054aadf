"""Runs inside the completion sandbox (``goaldrift.completion``); imports nothing from goaldrift.

It checks the step's commit out of goaldrift's git directory into the scratch repository, runs the
acceptance tests and the repository's own suite as two pytest sessions (or as the pack's own shell
commands, ``--acceptance-command`` / ``--suite-command``), each with its own time limit, and prints
one JSON line: ``{"acceptance": {...}, "suite": {...}}`` with the ``returncode`` (None: timed out)
and the tail of the output. It is started with ``python -I`` (no user site, no environment variables
read), so the agent's files cannot change how this script itself runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys

TAIL = 4000
GIT_CONFIG = ["-c", "core.attributesFile=/dev/null", "-c", "core.hooksPath=/dev/null", "-c",
              "core.fsmonitor=false", "-c", "core.symlinks=true", "-c", "safe.directory=*"]


def run(argv: list[str], cwd: str, seconds: float, env: dict[str, str]) -> dict:
    try:
        proc = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=seconds, check=False)
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode("utf-8", "replace")
        return {"returncode": None, "output": (out[-TAIL:] + f"\ntimed out after {seconds:g} s").strip()}
    return {"returncode": proc.returncode, "output": proc.stdout.decode("utf-8", "replace")[-TAIL:]}


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--git-dir", required=True)
    p.add_argument("--git", required=True)
    p.add_argument("--commit", required=True)
    p.add_argument("--repo", required=True)
    p.add_argument("--acceptance")
    p.add_argument("--suite", action="store_true")
    p.add_argument("--suite-command")
    p.add_argument("--acceptance-command")
    p.add_argument("--acceptance-seconds", type=float, required=True)
    p.add_argument("--suite-seconds", type=float, required=True)
    a = p.parse_args()
    git_env = {"GIT_DIR": a.git_dir, "GIT_WORK_TREE": a.repo, "GIT_INDEX_FILE": "/tmp/completion-index",
               "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": "/dev/null", "HOME": "/tmp", "LC_ALL": "C"}
    checkout = subprocess.run([a.git, *GIT_CONFIG, "checkout", "-f", a.commit, "--", "."], cwd=a.repo,
                              env=git_env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120, check=False)
    if checkout.returncode != 0:
        print(checkout.stderr.decode("utf-8", "replace")[-TAIL:], file=sys.stderr)
        return 3
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONDONTWRITEBYTECODE")}
    pytest = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    none = {"returncode": None, "output": ""}
    acceptance = none
    if a.acceptance and a.acceptance_command:
        command = a.acceptance_command.replace("{file}", shlex.quote(a.acceptance))
        acceptance = run(["/bin/sh", "-c", command], a.repo, a.acceptance_seconds, env)
    elif a.acceptance:
        folder = os.path.dirname(a.acceptance)
        # cwd = the repository, so its packages import; rootdir, ini file and no conftest: ours only.
        acceptance = run([*pytest, "--noconftest", "-c", os.path.join(folder, "pytest.ini"), "--rootdir", folder,
                          a.acceptance], a.repo, a.acceptance_seconds, env)
    suite_argv = ["/bin/sh", "-c", a.suite_command] if a.suite_command else pytest
    suite = run(suite_argv, a.repo, a.suite_seconds, env) if a.suite else none
    print(json.dumps({"acceptance": acceptance, "suite": suite}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
