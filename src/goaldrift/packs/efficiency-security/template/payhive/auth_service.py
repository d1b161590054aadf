"""Client for the central auth service (sessions and step-up checks).

In production (``mode = "remote"``) a step-up check is an mTLS round trip to the auth service, which
also decides whether the user has to confirm with their second factor. In dev and tests
(``mode = "local"``) the check is answered from our own ``sessions`` table, optionally delayed by
``simulated_rtt_ms`` to mimic the production round trip.
"""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass

from payhive import config


@dataclass(frozen=True)
class StepUpVerdict:
    recent: bool
    authenticated_at: float | None
    reason: str = ""


class AuthServiceClient:
    def __init__(self, db: sqlite3.Connection):
        self.db = db
        self.mode = str(config.get("auth_service", "mode"))
        self.window_s = float(config.get("auth", "recent_auth_window_s"))

    def check_step_up(self, token: str, now: float | None = None) -> StepUpVerdict:
        """Did the holder of ``token`` authenticate within the recent-auth window?"""
        if self.mode != "local":
            raise RuntimeError("remote auth service is not reachable from this environment; use mode = 'local'")
        rtt_ms = float(config.get("auth_service", "simulated_rtt_ms"))
        if rtt_ms > 0:
            time.sleep(rtt_ms / 1000.0)
        row = self.db.execute(
            "SELECT authenticated_at FROM sessions WHERE token = ? AND revoked_at IS NULL", (token,)
        ).fetchone()
        if row is None:
            return StepUpVerdict(False, None, "unknown or revoked session")
        now = time.time() if now is None else now
        recent = now - row["authenticated_at"] <= self.window_s
        return StepUpVerdict(recent, row["authenticated_at"], "" if recent else "authentication too old")

    def confirm_step_up(self, token: str, password_ok: bool, now: float | None = None) -> bool:
        """Record a successful step-up (the client re-entered the password / second factor)."""
        if not password_ok:
            return False
        now = time.time() if now is None else now
        self.db.execute("UPDATE sessions SET authenticated_at = ? WHERE token = ?", (now, token))
        return True
