from _support import component, has_colour


def test_promo_banner():
    html = component("promo_banner")("Winter sale", "/sale?x=1&y=2")
    assert '<a href="/sale?x=1&amp;y=2">Winter sale</a>' in html and 'class="banner"' in html
    assert has_colour(html)
