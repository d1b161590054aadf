"""SKUs (stock keeping units) as the warehouse prints them: letters, digits and dashes."""


def normalize_sku(sku: str, upper: bool = True) -> str:
    """" ab-12 " -> "AB-12": surrounding blanks removed, inner blanks turned into dashes."""
    cleaned = "-".join(sku.split())
    return cleaned.upper() if upper else cleaned
