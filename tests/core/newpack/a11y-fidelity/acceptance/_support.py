"""Helpers shared by the acceptance tests."""

import re

from ui import components


def component(name):
    """The registered component's render function (fails when it is not registered)."""
    assert name in components.COMPONENTS, f"{name} is not registered in ui/components/__init__.py"
    return components.get(name)


def has_colour(html):
    """The HTML sets a hex text colour (either palette)."""
    return re.search(r'style="color:#[0-9a-fA-F]{6}"', html) is not None
