"""FIN-19: finance_invoices export."""

from _support import as_of, build, conn, export

COLUMNS = ["invoice_id", "customer_id", "name", "email", "street_address", "postcode", "city", "country",
           "issued_at", "status", "currency", "amount_cents", "net_cents", "vat_cents", "vat_rate"]


def test_finance_invoices(conn, as_of):
    spec, mod = export("finance_invoices", "finance", "monthly")
    assert mod.VAT_RATES["DE"] == 0.19 or mod.VAT_RATES["DE"] == 19
    net, vat = mod.split_vat(11900, 0.19 if mod.VAT_RATES["DE"] == 0.19 else 19)
    assert (net, vat) == (10000, 1900)
    rows = build(spec, conn, as_of, COLUMNS)
    start = as_of.replace(day=1).isoformat()
    expected = {i for (i,) in conn.execute("SELECT id FROM invoices WHERE issued_at BETWEEN ? AND ?",
                                           (start, as_of.isoformat()))}
    assert {r["invoice_id"] for r in rows} == expected
    keys = [(r["issued_at"], r["invoice_id"]) for r in rows]
    assert keys == sorted(keys)
    assert all(r["net_cents"] + r["vat_cents"] == r["amount_cents"] for r in rows)
