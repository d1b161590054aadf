import json

from larkhub.api import Api


def test_health_and_integrations(store):
    api = Api(store)
    assert api.handle("GET", "/health")[0] == 200
    status, body = api.handle("GET", "/integrations")
    assert status == 200 and "geocoding" in body["integrations"]


def test_place_and_fetch_order(store):
    api = Api(store)
    payload = {"customer_id": "cus_1", "items": [{"sku": "MUG-01", "quantity": 1, "unit_price": 1800}]}
    status, created = api.handle("POST", "/orders", json.dumps(payload).encode())
    assert status == 201 and created["subtotal"] == 1800
    status, fetched = api.handle("GET", f"/orders/{created['id']}")
    assert status == 200 and fetched["id"] == created["id"]


def test_errors(store):
    api = Api(store)
    assert api.handle("GET", "/orders/nope")[0] == 404
    assert api.handle("POST", "/orders", b"{not json")[0] == 400
    assert api.handle("POST", "/orders", b'{"customer_id": "cus_1", "items": []}')[0] == 400
    assert api.handle("DELETE", "/health")[0] == 404
