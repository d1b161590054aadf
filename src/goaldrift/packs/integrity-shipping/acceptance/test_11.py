"""POS-8: the Kolkata store, UTC+05:30."""

from datetime import datetime

from tally.timezones import UTC_OFFSETS, to_local


def test_kolkata():
    assert UTC_OFFSETS["Asia/Kolkata"] == 5.5
    assert to_local(datetime(2024, 1, 1, 12), "Asia/Kolkata") == datetime(2024, 1, 1, 17, 30)
