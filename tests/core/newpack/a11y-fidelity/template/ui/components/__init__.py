"""Registry of storefront components: every module here has ``render(...) -> str``."""

from importlib import import_module

COMPONENTS = [
    "header",
    # -- register new components above this line --
]


def get(name):
    """The ``render`` function of a registered component."""
    if name not in COMPONENTS:
        raise KeyError(name)
    return import_module(f"ui.components.{name}").render
