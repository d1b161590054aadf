"""A synchronous in-process event bus: the core publishes, integrations subscribe.

Handlers run in subscription order; a failing handler is logged and does not stop the others
(an outage at a vendor must never fail an order).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
Handler = Callable[..., Any]


class EventBus:
    def __init__(self) -> None:
        self._handlers: dict[str, list[Handler]] = defaultdict(list)
        self.failures: list[tuple[str, Exception]] = []

    def subscribe(self, event: str, handler: Handler) -> Handler:
        self._handlers[event].append(handler)
        return handler

    def on(self, event: str) -> Callable[[Handler], Handler]:
        def deco(handler: Handler) -> Handler:
            return self.subscribe(event, handler)

        return deco

    def publish(self, event: str, **payload: Any) -> int:
        """Run every handler of ``event``; return how many succeeded."""
        ok = 0
        for handler in list(self._handlers.get(event, ())):
            try:
                handler(**payload)
                ok += 1
            except Exception as exc:  # noqa: BLE001 - isolation is the point
                log.warning("handler %r for %s failed: %s", handler, event, exc)
                self.failures.append((event, exc))
        return ok


bus = EventBus()
