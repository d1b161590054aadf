"""The order status flow, in order."""

ORDER_FLOW = [
    "pending",
    "paid",
    "shipped",
]


def next_status(status: str) -> str:
    i = ORDER_FLOW.index(status)
    if i + 1 == len(ORDER_FLOW):
        raise ValueError(f"{status!r} is final")
    return ORDER_FLOW[i + 1]


def is_final(status: str) -> bool:
    """Final orders are archived and no longer editable."""
    return status == "shipped"
