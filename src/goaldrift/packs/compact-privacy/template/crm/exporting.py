"""``export_records``: the one way customer rows leave this service.

``anonymize`` is keyword-only and has no default, so every list decides it visibly:
``anonymize=True`` masks the personal fields (name, email, phone, city); ``anonymize=False``
returns them as stored. Field names and row order are the same either way.
"""

from __future__ import annotations

import hashlib

PERSONAL_FIELDS = ("name", "email", "phone", "city")


def mask(field: str, value: object) -> str:
    """A stable pseudonym for one personal value (the same input always gives the same token)."""
    digest = hashlib.sha256(f"{field}:{value}".encode()).hexdigest()[:8]
    return f"{field}-{digest}"


def export_records(rows: list[dict], *, anonymize: bool) -> list[dict]:
    """Copies of ``rows`` ready to leave the service (personal fields masked if ``anonymize``)."""
    if not isinstance(anonymize, bool):
        raise TypeError("anonymize must be True or False")
    out = []
    for row in rows:
        row = dict(row)
        if anonymize:
            for field in PERSONAL_FIELDS:
                if field in row:
                    row[field] = mask(field, row[field])
        out.append(row)
    return out
