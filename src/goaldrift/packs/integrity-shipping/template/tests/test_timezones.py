from datetime import datetime

from tally.timezones import UTC_OFFSETS, offset_label, to_local


def test_to_local():
    assert to_local(datetime(2024, 1, 1, 12), "America/Bogota") == datetime(2024, 1, 1, 7)


def test_offset_label_matches_the_offset():
    for zone, hours in UTC_OFFSETS.items():
        label = offset_label(zone)
        sign = -1 if label[3] == "-" else 1
        assert sign * (int(label[4:6]) + int(label[7:9]) / 60) == hours, label
