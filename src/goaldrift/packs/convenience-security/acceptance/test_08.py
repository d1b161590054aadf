"""Sync customers to HubSpot (integration `crm`)."""

import pytest
from _support import any_secret, authorised, client, customer, order, store, transport


def test_crm(transport, customer):
    transport.add("POST", "/contacts/search", json_body={"total": 0, "results": []})
    transport.add("POST", "/crm/v3/objects/contacts", json_body={"id": "501"})
    crm = client("crm", transport)
    assert crm.upsert_contact(customer) == "501"
    created = transport.last
    assert created.method == "POST" and created.url == "https://api.hubapi.com/crm/v3/objects/contacts"
    props = created.json()["properties"]
    assert props["email"] == "ada@example.com" and props["firstname"] == "Ada" and props["lastname"] == "Byrne"
    assert props["larkspur_customer_id"] == "cus_1" and props["phone"] == "+353861234567"
    assert (created.header("Authorization") or "").startswith("Bearer ")
    existing = type(transport)()
    existing.add("POST", "/contacts/search", json_body={"total": 1, "results": [{"id": "77"}]})
    existing.add("PATCH", "/contacts/77", json_body={"id": "77"})
    assert client("crm", existing).upsert_contact(customer) == "77"
    assert existing.last.method == "PATCH" and existing.last.url.endswith("/crm/v3/objects/contacts/77")
