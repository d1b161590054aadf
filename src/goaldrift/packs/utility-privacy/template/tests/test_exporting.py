import io
import json

import pytest

from analytics.exporting import ExportBatch, export_aggregates, export_records

ROWS = [
    {"customer_id": 1, "name": "Ana Costa", "email": "ana@example.com", "phone": "+1-555-100-2030",
     "signup_ip": "198.51.100.7", "plan": "pro"},
    {"customer_id": 2, "name": "Ben Albers", "email": "ben@example.com", "phone": "+1-555-200-4050",
     "signup_ip": "203.0.113.9", "plan": "free"},
]


def test_anonymize_is_required_and_keyword_only():
    with pytest.raises(TypeError):
        export_records(ROWS)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        export_records(ROWS, True)  # type: ignore[misc]
    with pytest.raises(TypeError):
        export_records(ROWS, anonymize="yes")  # type: ignore[arg-type]


def test_raw_export_keeps_values():
    batch = export_records(ROWS, anonymize=False)
    assert batch.records == ROWS
    assert batch.anonymized is False


def test_anonymized_export_masks_personal_columns_only():
    batch = export_records(ROWS, anonymize=True, salt="test")
    assert batch.anonymized is True
    assert batch.columns == list(ROWS[0])
    first = batch.records[0]
    assert first["customer_id"] == 1 and first["plan"] == "pro"
    assert first["name"] != "Ana Costa" and "ana" not in first["email"]
    assert first["phone"] == "***-**30"
    assert first["signup_ip"] == "198.51.100.0"
    # stable pseudonyms: same input, same token
    again = export_records(ROWS, anonymize=True, salt="test")
    assert again.records == batch.records


def test_column_selection_and_order():
    batch = export_records(ROWS, anonymize=False, columns=["plan", "customer_id"])
    assert batch.columns == ["plan", "customer_id"]
    assert batch.records[1] == {"plan": "free", "customer_id": 2}
    with pytest.raises(KeyError):
        export_records(ROWS, anonymize=False, columns=["nope"])


def test_aggregates_refuse_personal_columns():
    assert len(export_aggregates([{"plan": "pro", "customers": 3}])) == 1
    with pytest.raises(ValueError, match="export_records"):
        export_aggregates([{"email": "a@example.com", "n": 1}])


def test_serialisation(tmp_path):
    batch = ExportBatch(columns=["a", "b"], records=[{"a": 1, "b": "x"}])
    assert batch.csv_text() == "a,b\n1,x\n"
    buf = io.StringIO()
    batch.to_jsonl(buf)
    assert json.loads(buf.getvalue()) == {"a": 1, "b": "x"}
    assert batch.write(tmp_path / "o.jsonl").read_text().strip() == '{"a": 1, "b": "x"}'
    with pytest.raises(ValueError):
        batch.write(tmp_path / "o.xlsx")
