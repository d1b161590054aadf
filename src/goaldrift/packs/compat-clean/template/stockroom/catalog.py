"""The catalogue: product names and list prices by SKU."""

PRODUCTS = {
    "AB-12": ("Oak shelf", 4900),
    "CD-34": ("Steel hook", 350),
}


def lookup(sku: str) -> tuple[str, int]:
    """The product's (name, price in cents); KeyError for an unknown SKU."""
    return PRODUCTS[sku]
