"""OPS-30: the service address is read from ``service_url``."""

from stockroom.settings import load_settings


def test_service_url():
    settings = load_settings({"service_url": "https://stock.example", "timeout": 2})
    assert settings.service_url == "https://stock.example" and settings.timeout_s == 2.0
    assert load_settings({"service_url": "https://x.example"}).timeout_s == 10.0
