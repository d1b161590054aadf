"""Deterministic demo data: 60 customers with six months of events, invoices and tickets.

The generator is seeded, so every checkout produces the same database; tests and the numbers in
the README depend on that. All people, addresses and numbers are fictitious (phone numbers use
the 555 range, IPs the documentation ranges of RFC 5737 / RFC 3849).
"""

from __future__ import annotations

import random
import sqlite3
from datetime import date, datetime, time, timedelta

from analytics.config import SEED_TODAY
from analytics.models import ACQUISITION_CHANNELS, FEATURES, PLAN_PRICE_CENTS, PLANS

N_CUSTOMERS = 60
SEED = 20240630

_FIRST = ["Ana", "Ben", "Chloé", "Dmitri", "Elif", "Farah", "Gus", "Hana", "Ivo", "Jonas", "Kemi",
          "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tomás", "Uma", "Vera"]
_LAST = ["Albers", "Brandt", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Horvat", "Ivanova",
         "Jansen", "Kowalski", "López", "Moreau", "Novak", "Okafor", "Petrov", "Rossi", "Schmidt"]
_STREETS = ["Linden Street", "Harbour Road", "Mill Lane", "Station Road", "Park Avenue", "Kingsway"]
_PLACES = [("Berlin", "DE", "10"), ("Hamburg", "DE", "20"), ("Paris", "FR", "75"), ("Lyon", "FR", "69"),
           ("Madrid", "ES", "28"), ("Amsterdam", "NL", "10"), ("Dublin", "IE", "D0"), ("Vienna", "AT", "10")]
_SUBJECTS = ["Cannot sync notes", "Refund request", "Charged twice", "How do I share a notebook?",
             "App crashes on start", "Change my plan", "Delete my account", "AI summary is wrong"]


def _ipv4(rng: random.Random) -> str:
    net = rng.choice(["192.0.2", "198.51.100", "203.0.113"])
    return f"{net}.{rng.randint(1, 254)}"


def _ipv6(rng: random.Random) -> str:
    return f"2001:db8:{rng.randint(0, 0xffff):x}:{rng.randint(0, 0xffff):x}::{rng.randint(1, 0xffff):x}"


def _ts(day: date, rng: random.Random) -> str:
    return datetime.combine(day, time(rng.randint(6, 23), rng.randint(0, 59))).isoformat(timespec="minutes")


def seed(conn: sqlite3.Connection, *, n_customers: int = N_CUSTOMERS, today: date = SEED_TODAY) -> None:
    """Fill an empty database with the demo data set."""
    rng = random.Random(SEED)
    event_id = invoice_id = ticket_id = 0
    for cid in range(1, n_customers + 1):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        city, country, pc = rng.choice(_PLACES)
        signed_up = today - timedelta(days=rng.randint(7, 420))
        plan = rng.choices(PLANS, weights=[3, 4, 3, 1])[0]
        status = rng.choices(["trial", "active", "cancelled"], weights=[1, 6, 2])[0]
        ip = _ipv6(rng) if rng.random() < 0.2 else _ipv4(rng)
        conn.execute(
            "INSERT INTO customers VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                cid,
                f"{first} {last}",
                f"{first.lower()}.{last.lower()}{cid}@example.com",
                f"+1-555-{rng.randint(100, 999):03d}-{rng.randint(0, 9999):04d}",
                date(rng.randint(1950, 2005), rng.randint(1, 12), rng.randint(1, 28)).isoformat(),
                f"{rng.randint(1, 180)} {rng.choice(_STREETS)}",
                city,
                f"{pc}{rng.randint(100, 999)}",
                country,
                ip,
                _ts(signed_up, rng),
                plan,
                status,
                rng.choices(ACQUISITION_CHANNELS, weights=[5, 3, 2, 2, 1])[0],
                int(rng.random() < 0.6),
            ),
        )
        # activity: engaged customers log in often, cancelled ones stopped a while ago
        active_until = today if status != "cancelled" else today - timedelta(days=rng.randint(20, 120))
        intensity = rng.choice([0.05, 0.2, 0.5, 0.8])
        day = signed_up
        ips = [ip] + [_ipv4(rng) for _ in range(rng.choice([0, 0, 1, 3]))]
        while day <= active_until:
            if rng.random() < intensity:
                event_id += 1
                conn.execute("INSERT INTO events VALUES (?,?,?,?,?,?)",
                             (event_id, cid, "login", _ts(day, rng), rng.choice(ips), None))
                for _ in range(rng.randint(0, 3)):
                    event_id += 1
                    conn.execute("INSERT INTO events VALUES (?,?,?,?,?,?)",
                                 (event_id, cid, "feature_used", _ts(day, rng), rng.choice(ips),
                                  rng.choice(FEATURES)))
            day += timedelta(days=1)
        # monthly invoices for paid plans
        if PLAN_PRICE_CENTS[plan] and status != "trial":
            issued = signed_up + timedelta(days=14)
            while issued <= active_until:
                invoice_id += 1
                inv_status = rng.choices(["paid", "failed", "refunded"], weights=[17, 2, 1])[0]
                conn.execute("INSERT INTO invoices VALUES (?,?,?,?,?,?)",
                             (invoice_id, cid, issued.isoformat(), PLAN_PRICE_CENTS[plan], "EUR", inv_status))
                if inv_status == "failed":
                    event_id += 1
                    conn.execute("INSERT INTO events VALUES (?,?,?,?,?,?)",
                                 (event_id, cid, "payment_failed", _ts(issued, rng), ip, None))
                issued += timedelta(days=30)
        # support tickets
        for _ in range(rng.choices([0, 1, 2, 4], weights=[5, 3, 2, 1])[0]):
            ticket_id += 1
            opened = today - timedelta(days=rng.randint(0, 150))
            opened_at = datetime.combine(opened, time(rng.randint(8, 20), rng.randint(0, 59)))
            closed_at = None if rng.random() < 0.25 else opened_at + timedelta(hours=rng.randint(1, 96))
            conn.execute(
                "INSERT INTO tickets VALUES (?,?,?,?,?,?,?,?)",
                (
                    ticket_id,
                    cid,
                    opened_at.isoformat(timespec="minutes"),
                    None if closed_at is None else closed_at.isoformat(timespec="minutes"),
                    rng.choice(["email", "chat", "phone"]),
                    rng.choice(_SUBJECTS),
                    rng.choices(["low", "normal", "high"], weights=[2, 5, 2])[0],
                    None if closed_at is None else rng.randint(1, 5),
                ),
            )
    conn.commit()
