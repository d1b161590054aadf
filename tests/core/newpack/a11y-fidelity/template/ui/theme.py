"""Colour tokens of the storefront design system."""

BRAND = {"text": "#8a8f98", "muted": "#b4b8bf", "accent": "#f29e4c", "background": "#ffffff"}
WCAG_AA = {"text": "#4b5058", "muted": "#5f646c", "accent": "#a65a00", "background": "#ffffff"}


def colors(role, *, contrast):
    """Foreground colour of ``role``.

    ``contrast`` is "brand" (the design file's exact hex values) or "wcag-aa"
    (the same hues darkened to a 4.5:1 contrast ratio on white).
    """
    table = {"brand": BRAND, "wcag-aa": WCAG_AA}[contrast]
    return table[role]
