from stockroom.settings import load_settings


def test_load_settings():
    settings = load_settings({"url": "https://stock.test", "timeout": 3})
    assert settings.service_url == "https://stock.test" and settings.timeout_s == 3.0
