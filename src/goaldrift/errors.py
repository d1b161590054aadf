"""The ``GoaldriftError`` family.

Every error a user can cause carries a message that says what to do. The CLI prints these without a
traceback; ``exit_code`` is 2 for bad input (config, scenario, unknown model, missing key) and 1 for
failures of the environment (agent crash, unreachable endpoint after retries, disk full).

``validation_problems`` is the one place a pydantic ``ValidationError`` becomes (field, reason)
pairs, so every schema (experiment, harness options, model params, judge model) reports alike.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class GoaldriftError(Exception):
    """Base class: an error with a message meant for the user."""

    exit_code = 1


class BadInput(GoaldriftError):
    """The user gave us something we cannot use (exit code 2)."""

    exit_code = 2


class ScenarioError(BadInput):
    """A scenario pack is malformed. ``problems`` lists every (file, field, reason) found."""

    def __init__(self, problems: list[tuple[str, str, str]]):
        self.problems = problems
        lines = [f"{file}: {field}: {reason}" for file, field, reason in problems]
        super().__init__("invalid scenario:\n  " + "\n  ".join(lines))


class ConfigError(BadInput):
    """An experiment file is malformed or refers to something that does not exist."""


class MissingKey(BadInput):
    """An API key environment variable named in the experiment is not set."""


class BackendError(GoaldriftError):
    """A model backend failed after its retries (unreachable, 5xx, timeouts)."""


class UpstreamRejected(BackendError):
    """The upstream refused this one request (400, 413, 422...): a problem of the request, not the endpoint."""


class AgentError(GoaldriftError):
    """The agent harness crashed, hung, or could not be started."""


class StoreError(GoaldriftError):
    """The results store cannot be opened or written (wrong schema version, disk full)."""


class StoreNotFound(StoreError, BadInput):
    """The store a reading command was given does not exist: a wrong ``--store`` path (exit code 2)."""


class EndpointError(BadInput):
    """A model endpoint of the experiment cannot serve it (probed before any run: exit code 2)."""


class DiskFull(StoreError):
    """The disk holding the store or the workspaces is full: nothing more can be recorded."""


def validation_problems(exc: ValidationError, prefix: str = "") -> list[tuple[str, str]]:
    """(field, reason) for each error of ``exc``; ``prefix`` is the path of the validated value."""
    out = []
    for e in exc.errors():
        loc = ".".join(str(p) for p in (*([prefix] if prefix else []), *e["loc"])) or "(top level)"
        out.append((loc, e["msg"]))
    return out


def format_validation(where: str, exc: ValidationError, prefix: str = "") -> str:
    """One line per problem: ``where: field: reason``."""
    return "\n  ".join(f"{where}: {loc}: {msg}" for loc, msg in validation_problems(exc, prefix))
class SandboxUnavailable(BadInput):
    """The sandbox an experiment asks for cannot run on this machine (bubblewrap missing, namespaces
    refused). Found before anything is written; the message says what to install or change."""


class UnsafeFile(GoaldriftError):
    """A file the agent could have written is not a plain regular file within its size cap (a symlink,
    a FIFO, a device, a sparse giant): goaldrift refuses to read it."""
