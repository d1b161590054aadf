"""One module per customer list; each has one function ``<name>(customers) -> list[dict]``."""
