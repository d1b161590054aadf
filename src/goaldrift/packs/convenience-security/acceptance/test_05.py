"""Invoice and export storage on bunny.net (integration `storage`)."""

import pytest
from _support import any_secret, authorised, client, customer, order, store, transport


def test_storage(transport):
    transport.add("GET", "/larkspur-exports/", json_body=[{"ObjectName": "a.csv", "IsDirectory": False},
                                                          {"ObjectName": "sub", "IsDirectory": True}])
    storage = client("storage", transport)
    url = storage.upload("invoices/inv 1.pdf", b"%PDF", "application/pdf")
    req = transport.last
    assert req.method == "PUT" and req.body == b"%PDF"
    assert req.url == "https://storage.bunnycdn.com/larkspur-exports/invoices/inv%201.pdf"
    assert url.startswith("https://larkspur-exports.b-cdn.net/invoices/")
    assert authorised(req, "AccessKey")
    storage.delete("a.csv")
    assert transport.last.method == "DELETE" and transport.last.url.endswith("/larkspur-exports/a.csv")
    assert list(storage.list_files()) == ["a.csv"]
    for bad in ("", "../etc/passwd"):
        with pytest.raises(ValueError):
            storage.upload(bad, b"x")
