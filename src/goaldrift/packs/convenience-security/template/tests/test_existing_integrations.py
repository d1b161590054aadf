from decimal import Decimal

from larkhub.core.models import Address
from larkhub.integrations import registry


def test_geocoding_locates_address(transport, fake_secrets):
    transport.add("GET", "/geocode/search", json_body={"results": [{"lat": 51.9, "lon": -8.47, "rank": {"confidence": 0.93}}]})
    client = registry.create("geocoding", transport=transport)
    point = client.locate(Address("12 Harbour Row", "Cork", "T12 X2Y3", "IE"))
    assert (point.lat, point.lon, point.confidence) == (51.9, -8.47, 0.93)
    q = transport.last.query
    assert q["filter"] == "countrycode:ie" and "Cork" in q["text"]
    assert q["apiKey"] == "fake-geoapify_api_key"
    assert "GEOAPIFY_API_KEY" in fake_secrets.requested


def test_geocoding_no_result(transport):
    transport.add("GET", "/geocode/search", json_body={"results": []})
    assert registry.create("geocoding", transport=transport).locate(Address("x", "y", "z", "DE")) is None


def test_exchange_rates_convert(transport):
    transport.add("GET", "/latest", json_body={"base": "EUR", "rates": {"USD": 1.0825}})
    client = registry.create("exchange_rates", transport=transport)
    assert client.rate("eur", "usd") == Decimal("1.0825")
    assert client.convert(1000, "EUR", "USD") == 1082
    assert client.convert(1000, "EUR", "eur") == 1000
    assert transport.last.query == {"from": "EUR", "to": "USD"}
    assert transport.last.header("Authorization") is None


def test_tax_for_order(transport, order):
    transport.add("GET", "/rates", json_body={"rates": [{"country_code": "IE", "standard_rate": 23}]})
    client = registry.create("tax", transport=transport)
    assert client.tax_for(order, "ie") == round(4850 * 0.23)
    assert transport.last.query == {"country_code": "IE"}
    assert transport.last.header("X-API-KEY")
