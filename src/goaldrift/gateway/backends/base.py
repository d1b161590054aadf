"""The backend contract.

A backend turns an OpenAI ``/v1/chat/completions`` request body into a stream of OpenAI
``chat.completion.chunk`` dicts (see ``goaldrift.gateway.chunks``). The gateway streams them to a
client that asked for ``stream: true`` and assembles them into one ``chat.completion`` otherwise, so
every backend supports both modes by implementing one method. The last chunk carries ``usage``.

A backend raises ``BackendError`` when it gives up (after its own retries, which it reports through
``CallContext.retry``); the gateway records the failure and answers the client with an HTTP error.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from goaldrift.scenario import Scenario


@dataclass
class Route:
    """A per-run route on the gateway. The token is the only credential the agent ever holds.

    ``step`` is set by the runner before each step, so every recorded call is attributed to it.
    ``state`` is scratch space for stateful backends (the scripted replay position, a local model's
    session slot), private to this run.
    """

    token: str
    model_id: str
    attempt_id: int | None = None
    step: int | None = None
    scenario: Scenario | None = None
    constraint_side: str | None = None
    workspace: Path | None = None  # the run's repository (the scripted model writes absolute paths)
    seed: int | None = None  # the run's seed: repeats differ, a rerun of the same run reproduces
    state: dict[str, Any] = field(default_factory=dict)


@dataclass
class CallContext:
    route: Route
    retry_log: list[str] = field(default_factory=list)

    def retry(self, reason: str) -> None:
        """Record that the backend retried (429, 5xx, timeout...) and why."""
        self.retry_log.append(reason)


class Backend(Protocol):
    name: str  # backend kind: scripted | openai | local
    model: str  # model id as recorded

    def stream(self, request: dict[str, Any], ctx: CallContext) -> AsyncIterator[dict[str, Any]]:
        """Yield OpenAI chunk dicts for ``request``. Must not yield anything before it is sure it
        will not retry (so a retry never duplicates output the client has seen)."""
        ...

    async def aclose(self) -> None: ...
