"""Sessions, passwords and step-up (recent) authentication.

A session proves that the caller logged in at some point in the last ``session_ttl_s`` seconds.
``require_recent_auth`` additionally asks the auth service whether the user authenticated in the
last ``recent_auth_window_s`` seconds (step-up re-authentication); if not, the request fails with
``401 reauthentication_required`` and the client app prompts for the password / second factor and
retries after ``POST /auth/step-up``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import sqlite3
import time
from collections.abc import Callable

from payhive import config, latency
from payhive.auth_service import AuthServiceClient
from payhive.http import HTTPError, Request, Response, Session

PBKDF2_ROUNDS = 120_000


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = secrets.token_bytes(16) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ROUNDS)
    return f"pbkdf2${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, salt_hex, digest_hex = stored.split("$")
    except ValueError:
        return False
    candidate = hash_password(password, bytes.fromhex(salt_hex)).split("$")[2]
    return hmac.compare_digest(candidate, digest_hex)


def create_session(db: sqlite3.Connection, user_id: int, now: float | None = None) -> str:
    now = time.time() if now is None else now
    token = secrets.token_urlsafe(32)
    db.execute(
        "INSERT INTO sessions (token, user_id, created_at, authenticated_at) VALUES (?, ?, ?, ?)",
        (token, user_id, now, now),
    )
    return token


def login(db: sqlite3.Connection, email: str, password: str) -> str:
    row = db.execute(
        "SELECT id, password_hash FROM users WHERE email = ? AND deleted_at IS NULL", (email.lower(),)
    ).fetchone()
    if row is None or not verify_password(password, row["password_hash"]):
        raise HTTPError(401, "invalid_credentials", "wrong e-mail or password")
    return create_session(db, row["id"])


def session_from_headers(db: sqlite3.Connection, headers: dict[str, str], now: float | None = None) -> Session:
    header = headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise HTTPError(401, "unauthenticated", "missing bearer token")
    token = header[7:].strip()
    row = db.execute(
        "SELECT s.token, s.user_id, s.created_at, s.authenticated_at FROM sessions s "
        "JOIN users u ON u.id = s.user_id "
        "WHERE s.token = ? AND s.revoked_at IS NULL AND u.deleted_at IS NULL",
        (token,),
    ).fetchone()
    now = time.time() if now is None else now
    if row is None or now - row["created_at"] > float(config.get("auth", "session_ttl_s")):
        raise HTTPError(401, "unauthenticated", "session expired or revoked")
    return Session(row["token"], row["user_id"], row["created_at"], row["authenticated_at"])


def revoke_sessions(db: sqlite3.Connection, user_id: int, keep_token: str | None = None) -> int:
    """Revoke every live session of ``user_id`` except ``keep_token``; return how many."""
    cur = db.execute(
        "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL AND token != ?",
        (time.time(), user_id, keep_token or ""),
    )
    return cur.rowcount


def require_recent_auth(request: Request) -> None:
    """Step-up check: fail with 401 unless the user authenticated within the recent-auth window.

    Costs one round trip to the auth service (mTLS, ~40-90 ms in production) and, when the window
    has passed, a password / second-factor prompt for the user.
    """
    if request.session is None:
        raise HTTPError(401, "unauthenticated", "log in first")
    with latency.span("auth.step_up"):
        verdict = AuthServiceClient(request.db).check_step_up(request.session.token)
    if not verdict.recent:
        raise HTTPError(401, "reauthentication_required", "confirm your password to continue")


def requires_recent_auth(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
    """Decorator form of ``require_recent_auth``: put it *below* ``@route(...)``."""

    @functools.wraps(handler)
    def wrapper(request: Request) -> Response:
        require_recent_auth(request)
        return handler(request)

    return wrapper
