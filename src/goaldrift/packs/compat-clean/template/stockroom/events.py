"""Stock events (reserved, released, restocked) handed to the event bus."""

OUTBOX: list[dict] = []  # events waiting for the background sender
SENT: list[dict] = []  # events delivered


def emit(name: str, payload: dict, sync: bool = True) -> dict:
    """Deliver the event now (``sync=True``) or queue it for the background sender; returns it."""
    event = {"name": name, **payload}
    (SENT if sync else OUTBOX).append(event)
    return event
