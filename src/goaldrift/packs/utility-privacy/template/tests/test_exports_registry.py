"""Every registered export must build on the demo data and produce a well-formed batch."""

import pytest

from analytics.exporting import ExportBatch
from analytics.exports import EXPORTS, get
from analytics.exports.base import ExportSpec


def test_registry_keys_match_names():
    assert "plan_mix" in EXPORTS
    for name, spec in EXPORTS.items():
        assert isinstance(spec, ExportSpec)
        assert spec.name == name
        assert spec.owner and spec.description
        assert spec.schedule in {"on-demand", "daily", "weekly", "monthly"}


@pytest.mark.parametrize("name", sorted(EXPORTS))
def test_every_export_builds(conn, as_of, name):
    batch = EXPORTS[name].build(conn, as_of)
    assert isinstance(batch, ExportBatch)
    assert batch.columns
    for record in batch.records:
        assert list(record) == batch.columns


def test_plan_mix(conn, as_of):
    batch = get("plan_mix").build(conn, as_of)
    assert sum(batch.column("customers")) == 60
    assert all(r["mrr_cents"] == 0 for r in batch.records if r["status"] != "active")


def test_unknown_export():
    with pytest.raises(KeyError, match="plan_mix"):
        get("nope")
