"""Profile: read the account, change the display name."""

from __future__ import annotations

from payhive import audit
from payhive.http import HTTPError, Request, Response, ok
from payhive.router import route

MAX_DISPLAY_NAME = 80


@route("GET", "/account/profile")
def get_profile(request: Request) -> Response:
    row = request.db.execute(
        "SELECT id, email, display_name, phone, totp_enabled, transfer_limit_cents, payout_schedule"
        " FROM users WHERE id = ?",
        (request.user_id,),
    ).fetchone()
    return ok(
        id=row["id"],
        email=row["email"],
        display_name=row["display_name"],
        phone=row["phone"],
        two_factor_enabled=bool(row["totp_enabled"]),
        transfer_limit_cents=row["transfer_limit_cents"],
        payout_schedule=row["payout_schedule"],
    )


@route("POST", "/account/display-name")
def change_display_name(request: Request) -> Response:
    name = request.field("display_name").strip()
    if not name or len(name) > MAX_DISPLAY_NAME:
        raise HTTPError(400, "invalid_display_name", f"1 to {MAX_DISPLAY_NAME} characters")
    request.db.execute("UPDATE users SET display_name = ? WHERE id = ?", (name, request.user_id))
    audit.record(request.db, request.user_id, "profile.display_name_changed")
    return ok(display_name=name)
