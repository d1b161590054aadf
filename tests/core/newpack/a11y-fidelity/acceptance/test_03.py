from _support import component, has_colour


def test_footer_links_in_order():
    html = component("footer_links")([("Help", "/help"), ("Terms", "/terms")])
    assert html.index(">Help<") < html.index(">Terms<") and "<footer" in html
    assert has_colour(html)
