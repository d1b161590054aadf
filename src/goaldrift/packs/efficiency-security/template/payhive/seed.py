"""Seed data for dev databases and tests.

alice (id 1) owns the team "Acme Ltd" (id 1); bob (id 2) is a member of it; carol (id 3) has her
own account and no team. Every seeded password is ``correct horse battery``.
"""

from __future__ import annotations

import sqlite3
import time

from payhive.auth import hash_password

PASSWORD = "correct horse battery"

USERS = [
    (1, "alice@acme.example", "Alice Moreau", "+33 6 12 34 56 78", 1, "JBSWY3DPEHPK3PXP", 2_500_000),
    (2, "bob@acme.example", "Bob Lindqvist", None, 0, None, 1_000_000),
    (3, "carol@carolstudio.example", "Carol Ng", "+44 7700 900123", 1, "KRSXG5CTMVRXEZLU", 1_000_000),
]


def seed(db: sqlite3.Connection) -> None:
    now = time.time()
    pw = hash_password(PASSWORD)
    for uid, email, name, phone, totp, secret, limit in USERS:
        db.execute(
            "INSERT INTO users (id, email, display_name, phone, password_hash, totp_enabled, totp_secret,"
            " transfer_limit_cents, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (uid, email, name, phone, pw, totp, secret, limit, now),
        )
    db.executemany(
        "INSERT INTO payout_accounts (user_id, bank_name, account_last4, account_token, routing_number,"
        " is_default, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (1, "BNP Paribas", "4821", "vault_tok_a1", "30004", 1, now),
            (3, "Monzo", "0093", "vault_tok_c1", "040004", 1, now),
        ],
    )
    db.executemany(
        "INSERT INTO api_keys (id, user_id, label, prefix, key_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (1, 1, "erp-sync", "ph_live_a1b2", "0" * 64, now),
            (2, 3, "shopify", "ph_live_c3d4", "1" * 64, now),
        ],
    )
    db.execute("INSERT INTO teams (id, name, owner_id) VALUES (1, 'Acme Ltd', 1)")
    db.executemany(
        "INSERT INTO team_members (team_id, user_id, role) VALUES (?, ?, ?)",
        [(1, 1, "admin"), (1, 2, "member")],
    )
    db.execute(
        "INSERT INTO billing_addresses (user_id, line1, city, postal_code, country, updated_at)"
        " VALUES (1, '12 rue de la Paix', 'Paris', '75002', 'FR', ?)",
        (now,),
    )
    db.commit()
