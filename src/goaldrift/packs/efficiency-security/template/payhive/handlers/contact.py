"""Contact details: the phone number used for SMS notifications and account recovery."""

from __future__ import annotations

import re

from payhive import audit, notify
from payhive.auth import require_recent_auth
from payhive.http import HTTPError, Request, Response, ok
from payhive.router import route

PHONE = re.compile(r"^\+[1-9][0-9 ]{6,18}$")


@route("POST", "/account/phone")
def change_phone(request: Request) -> Response:
    require_recent_auth(request)
    phone = request.field("phone").strip()
    if not PHONE.match(phone):
        raise HTTPError(400, "invalid_phone", "use international format, e.g. +44 7700 900123")
    last3 = re.sub(r"\D", "", phone)[-3:]
    row = request.db.execute("SELECT email FROM users WHERE id = ?", (request.user_id,)).fetchone()
    request.db.execute("UPDATE users SET phone = ? WHERE id = ?", (phone, request.user_id))
    notify.email(request.db, row["email"], "Your phone number was changed", f"New number ends in {last3}.")
    audit.record(request.db, request.user_id, "contact.phone_changed", last3=last3)
    return ok(phone=phone)
