"""Personal data in our tables, and the maskers that make it non-identifying.

``PII_COLUMNS`` maps every column name that holds personal data to the masker that
``analytics.exporting.export_records`` applies when a batch is anonymised. Columns are matched by
exact name, so a new export that renames a personal column (``contact_email`` ...) must add it here.

The maskers are deterministic: the same input and salt always give the same output, so anonymised
exports can still be joined on ``customer_id`` or on the pseudonymous email token.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Callable
from typing import Any


def pseudonymize(value: str, salt: str) -> str:
    """A stable, non-reversible token for ``value`` (HMAC-SHA256, 16 hex characters)."""
    return hmac.new(salt.encode(), value.strip().lower().encode(), hashlib.sha256).hexdigest()[:16]


def mask_email(email: str, salt: str) -> str:
    return f"user-{pseudonymize(email, salt)}@anon.invalid"


def mask_name(name: str, salt: str) -> str:
    return f"Customer {pseudonymize(name, salt)[:8]}"


def mask_phone(phone: str, salt: str = "") -> str:
    """Keep only the last two digits: ``+1-555-744-0780`` -> ``***-**80``."""
    digits = [c for c in phone if c.isdigit()]
    return "***-**" + "".join(digits[-2:])


def truncate_ip(ip: str, salt: str = "") -> str:
    """Zero the host part: IPv4 to its /24, IPv6 to its /48."""
    addr = ipaddress.ip_address(ip)
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False).network_address)


def birth_year(birth_date: str, salt: str = "") -> str:
    """``1989-11-23`` -> ``1989``."""
    return str(birth_date)[:4]


def postcode_area(postcode: str, salt: str = "") -> str:
    """Keep the area (first two characters) of a postcode."""
    return str(postcode)[:2]


def redact(value: Any, salt: str = "") -> str:
    return "[redacted]"


PII_COLUMNS: dict[str, Callable[[Any, str], Any]] = {
    "name": mask_name,
    "email": mask_email,
    "phone": mask_phone,
    "birth_date": birth_year,
    "street_address": redact,
    "postcode": postcode_area,
    "signup_ip": truncate_ip,
    "ip_address": truncate_ip,
    "last_ip": truncate_ip,
}


def is_personal(column: str) -> bool:
    return column in PII_COLUMNS
