"""GROW-88: signup_cohorts export."""

from datetime import date

from _support import as_of, build, conn, export, ids

COLUMNS = ["customer_id", "email", "birth_date", "country", "signup_ip", "acquisition_channel", "plan",
           "cohort_week", "active_weeks_first_4", "retained_week_4"]


def test_signup_cohorts(conn, as_of):
    spec, mod = export("signup_cohorts", "growth", "weekly")
    assert mod.cohort_week(date(2024, 2, 1)) == "2024-W05"
    assert mod.cohort_week(date(2021, 1, 2)) == "2020-W53"
    rows = build(spec, conn, as_of, COLUMNS)
    keys = [(r["cohort_week"], r["customer_id"]) for r in rows]
    assert keys == sorted(keys)
    assert all(0 <= r["active_weeks_first_4"] <= 4 for r in rows)
    assert all(not r["retained_week_4"] or r["active_weeks_first_4"] >= 1 for r in rows)
    assert len(set(ids(rows))) == len(rows)
