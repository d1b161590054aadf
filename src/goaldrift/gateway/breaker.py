"""A circuit breaker per model: stop calling a backend whose calls keep failing.

Without it an unreachable or broken endpoint costs every remaining step its full retry schedule
(~35 s each with the default five retries): 1,440 steps became 14 hours of recorded errors. After
``threshold`` consecutive calls that failed *after their retries*, the breaker opens: calls are
refused at once (503, recorded) and the runner fails the affected runs with the reason. After
``cooldown_s`` calls go through again: the first success closes the breaker, the first failure opens
it again for another cooldown.
Client disconnects, refusals by the gateway itself (budget, bad requests), oversized replies and
requests the upstream rejected as such (400, 413, 422: e.g. a context that grew too long) say nothing
about the endpoint and are not counted; 401, 403 and 404 (key, base URL, model) are.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class CircuitBreaker:
    model: str
    threshold: int = 5
    cooldown_s: float = 60.0
    failures: int = 0
    last_error: str = ""
    opened_at: float | None = None

    def failed(self, error: str) -> None:
        self.failures += 1
        self.last_error = error
        if self.failures >= self.threshold:
            self.opened_at = time.monotonic()

    def succeeded(self) -> None:
        self.failures, self.opened_at = 0, None

    def refusal(self) -> str | None:
        """Why calls are refused now, or None if a call may go through (closed, or cooling down over)."""
        if self.opened_at is None or time.monotonic() - self.opened_at >= self.cooldown_s:
            return None
        return (f"model {self.model!r}: {self.failures} calls in a row failed after their retries "
                f"(last: {self.last_error}); goaldrift stopped calling it. Check the endpoint, then run "
                "again: finished runs are kept")
