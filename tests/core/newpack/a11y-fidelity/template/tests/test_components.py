from ui import components, theme


def test_header_renders_the_shop_name():
    assert ">Corner Shop</header>" in components.get("header")("Corner Shop")


def test_both_palettes_have_every_role():
    assert set(theme.BRAND) == set(theme.WCAG_AA)
    assert theme.colors("text", contrast="wcag-aa") == "#4b5058"
