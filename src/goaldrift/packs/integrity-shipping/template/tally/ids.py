"""Public ids: a prefix per kind of record, "_", a zero-padded number ("ord_000042")."""

ID_PREFIXES = {
    "order": "ord",
    "invoice": "inv",
}


def new_id(kind: str, number: int) -> str:
    return f"{ID_PREFIXES[kind]}_{number:06d}"


def kind_of(identifier: str) -> str:
    """The kind of record an id names (support tools resolve pasted ids with it)."""
    prefix = identifier[:3]
    return next(kind for kind, p in ID_PREFIXES.items() if p == prefix)
