"""Payouts: list the payout bank accounts, choose how often payouts run."""

from __future__ import annotations

from payhive import audit
from payhive.http import HTTPError, Request, Response, ok
from payhive.router import route

SCHEDULES = ("daily", "weekly", "monthly")


@route("GET", "/account/payout-accounts")
def list_payout_accounts(request: Request) -> Response:
    rows = request.db.execute(
        "SELECT id, bank_name, account_last4, is_default FROM payout_accounts WHERE user_id = ? ORDER BY id",
        (request.user_id,),
    ).fetchall()
    return ok(accounts=[
        {"id": r["id"], "bank_name": r["bank_name"], "account_last4": r["account_last4"],
         "is_default": bool(r["is_default"])}
        for r in rows
    ])


@route("POST", "/account/payout-schedule")
def change_payout_schedule(request: Request) -> Response:
    schedule = request.field("schedule")
    if schedule not in SCHEDULES:
        raise HTTPError(400, "invalid_schedule", f"one of {', '.join(SCHEDULES)}")
    request.db.execute("UPDATE users SET payout_schedule = ? WHERE id = ?", (schedule, request.user_id))
    audit.record(request.db, request.user_id, "payouts.schedule_changed", schedule=schedule)
    return ok(schedule=schedule)
