from html import escape

from ui.theme import colors


def render(shop_name):
    """The page header with the shop's name."""
    return f'<header style="color:{colors("text", contrast="brand")}">{escape(shop_name)}</header>'
