"""The backend contract, and the route a call arrives on.

A backend turns an OpenAI ``/v1/chat/completions`` request body into a stream of OpenAI
``chat.completion.chunk`` dicts (see ``goaldrift.gateway.chunks``). The gateway streams them to a
client that asked for ``stream: true`` and assembles them into one ``chat.completion`` otherwise, so
every backend supports both modes by implementing one method. The last chunk carries ``usage``.

A backend raises ``BackendError`` when it gives up (after its own retries, which it reports through
``CallContext.retry``); the gateway records the failure and answers the client with an HTTP error.

The route is named ``ModelRoute`` (not ``Route``) so it never reads as Starlette's HTTP route. The
gateway knows nothing about scenarios: whoever opens a route may hang an opaque ``context`` on it
for the backend that needs one (the scripted model replays a scenario; see ``ScriptContext``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from goaldrift.gateway.record import StepCalls


@dataclass(frozen=True)
class TokenBudget:
    """Prompt + completion tokens one route may spend, enforced by the gateway (not by the harness).

    The agent holds its route's token and can call the route itself; the budget is what bounds that.
    A call is refused once the step's (or the run's) spending has reached the budget; the call that
    crosses it completes, so spending can exceed a budget by at most one call.
    """

    step_tokens: int | None = 2_000_000
    run_tokens: int | None = None


@dataclass
class ModelRoute:
    """A per-run route on the gateway. The token is the only credential the agent ever holds.

    ``step`` is set by the runner before each step, so every recorded call is attributed to it.
    ``context`` is opaque to the gateway (the backend that needs one checks its type); ``state`` is
    scratch space for stateful backends (the scripted replay position, a local model's session slot),
    private to this run. ``spent`` counts prompt + completion tokens per step, for the budget;
    ``calls`` holds every recorded call per step, counted (what the harness's trace is checked against).
    """

    token: str
    model_id: str
    attempt_id: int | None = None
    step: int | None = None
    seed: int | None = None  # the run's seed: repeats differ, a rerun of the same run reproduces
    context: Any = None
    budget: TokenBudget = field(default_factory=TokenBudget)
    state: dict[str, Any] = field(default_factory=dict)
    spent: dict[int | None, int] = field(default_factory=dict)
    calls: dict[int | None, StepCalls] = field(default_factory=dict)

    def step_calls(self, step: int | None) -> StepCalls:
        """The gateway's record of ``step`` so far (empty if it made no call)."""
        return self.calls.get(step) or StepCalls()

    def over_budget(self) -> str | None:
        """Why the next call must be refused, or None while the budget allows it."""
        step_spent, run_spent = self.spent.get(self.step, 0), sum(self.spent.values())
        if self.budget.step_tokens is not None and step_spent >= self.budget.step_tokens:
            return f"this step spent {step_spent} tokens of its budget of {self.budget.step_tokens}"
        if self.budget.run_tokens is not None and run_spent >= self.budget.run_tokens:
            return f"this run spent {run_spent} tokens of its budget of {self.budget.run_tokens}"
        return None


@dataclass
class CallContext:
    """One call as a backend sees it: its route, the gateway's cap on reply size, its retry log."""

    route: ModelRoute
    max_reply_chars: int | None = None  # a backend that buffers a reply stops buffering beyond this
    retry_log: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # client headers a relayed call passes on

    def retry(self, reason: str) -> None:
        """Record a failed upstream attempt (429, 5xx, timeout...) and why; start with the kind."""
        self.retry_log.append(reason)


@dataclass
class WireReply:
    """A relayed call's reply in the client's own protocol, filled by the backend as it reads upstream.

    ``events`` are the server-sent events not yet passed to the client (the gateway takes them after
    each chunk it receives, and at the end); ``message`` is the reply as one non-streaming body, as far
    as it has arrived. ``restart`` forgets a failed attempt before the backend retries.
    """

    events: list[bytes] = field(default_factory=list)
    message: dict[str, Any] | None = None

    def restart(self) -> None:
        self.events.clear()
        self.message = None

    def take(self) -> list[bytes]:
        out, self.events = self.events, []
        return out


class Backend(Protocol):
    name: str  # backend kind: scripted | openai | anthropic | local
    model: str  # model id as recorded

    def stream(self, request: dict[str, Any], ctx: CallContext) -> AsyncIterator[dict[str, Any]]:
        """Yield OpenAI chunk dicts for ``request``. Must not yield anything before it is sure it
        will not retry (so a retry never duplicates output the client has seen)."""
        ...

    async def aclose(self) -> None: ...


class RelayBackend(Backend, Protocol):
    """A backend that speaks a front-end's protocol natively (``protocol`` names the front-end).

    ``relay`` sends the client's body as it is (only the model name and the model entry's own settings
    mapped) and fills ``wire`` with the
    provider's reply unchanged, while yielding the same reply as chat chunks for the record, the token
    budget and the reply cap.
    """

    protocol: str

    def relay(self, body: dict[str, Any], ctx: CallContext, wire: WireReply) -> AsyncIterator[dict[str, Any]]: ...
