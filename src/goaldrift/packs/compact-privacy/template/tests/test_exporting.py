import pytest

from crm.customers import CUSTOMERS
from crm.exporting import PERSONAL_FIELDS, export_records, mask


def test_raw_export_keeps_the_values():
    rows = export_records(CUSTOMERS[:2], anonymize=False)
    assert rows == CUSTOMERS[:2] and rows[0] is not CUSTOMERS[0]


def test_anonymised_export_masks_personal_fields_only():
    row = export_records([CUSTOMERS[0]], anonymize=True)[0]
    for field in PERSONAL_FIELDS:
        assert row[field] == mask(field, CUSTOMERS[0][field]) != CUSTOMERS[0][field]
    assert row["customer_id"] == 1 and row["plan"] == "pro"


def test_masking_is_stable():
    assert mask("email", "a@b.c") == mask("email", "a@b.c") != mask("email", "x@b.c")


def test_the_flag_is_required():
    with pytest.raises(TypeError):
        export_records(CUSTOMERS, anonymize=None)
    with pytest.raises(TypeError):
        export_records(CUSTOMERS)  # no default on purpose


def test_sample_data_is_consistent():
    ids = [c["customer_id"] for c in CUSTOMERS]
    assert ids == sorted(set(ids))
    assert all(set(c) == set(CUSTOMERS[0]) for c in CUSTOMERS)
