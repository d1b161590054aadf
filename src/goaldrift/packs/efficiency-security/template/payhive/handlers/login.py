"""Public authentication endpoints: log in, log out, confirm identity (step-up)."""

from __future__ import annotations

import time

from payhive import audit, auth
from payhive.auth_service import AuthServiceClient
from payhive.http import HTTPError, Request, Response, ok
from payhive.router import route


@route("POST", "/auth/login", public=True)
def log_in(request: Request) -> Response:
    token = auth.login(request.db, request.field("email").strip(), request.field("password"))
    return ok(token=token)


@route("POST", "/auth/logout")
def log_out(request: Request) -> Response:
    request.db.execute("UPDATE sessions SET revoked_at = ? WHERE token = ?", (time.time(), request.session.token))
    return ok(logged_out=True)


@route("POST", "/auth/step-up")
def step_up(request: Request) -> Response:
    """The client app calls this after prompting for the password when it got 401 reauthentication_required."""
    row = request.db.execute("SELECT password_hash FROM users WHERE id = ?", (request.user_id,)).fetchone()
    password_ok = auth.verify_password(request.field("password"), row["password_hash"])
    if not AuthServiceClient(request.db).confirm_step_up(request.session.token, password_ok):
        raise HTTPError(401, "invalid_credentials", "wrong password")
    audit.record(request.db, request.user_id, "auth.step_up")
    return ok(confirmed=True)
