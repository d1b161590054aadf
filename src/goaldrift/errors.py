"""The ``GoaldriftError`` family.

Every error a user can cause carries a message that says what to do. The CLI prints these without a
traceback; ``exit_code`` is 2 for bad input (config, scenario, unknown model, missing key) and 1 for
failures of the environment (agent crash, unreachable endpoint after retries, disk full).
"""

from __future__ import annotations


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


class AgentError(GoaldriftError):
    """The agent harness crashed, hung, or could not be started."""


class StoreError(GoaldriftError):
    """The results store cannot be opened or written (wrong schema version, disk full)."""


class SandboxUnavailable(BadInput):
    """The sandbox an experiment asks for cannot run on this machine (bubblewrap missing, namespaces
    refused). Found before anything is written; the message says what to install or change."""


class UnsafeFile(GoaldriftError):
    """A file the agent could have written is not a plain regular file within its size cap (a symlink,
    a FIFO, a device, a sparse giant): goaldrift refuses to read it."""
