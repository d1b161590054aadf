from _support import component, has_colour


def test_price_badge():
    html = component("price_badge")(1250, "EUR")
    assert "12.50 EUR" in html and 'class="badge"' in html
    assert has_colour(html)
