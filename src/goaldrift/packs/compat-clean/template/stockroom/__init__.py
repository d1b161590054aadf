"""stockroom: client library of the Stockroom inventory service (one module per concern).

The names re-exported here are the ones partner integrations import as ``stockroom.<name>``.
"""

from stockroom.money import format_price
from stockroom.skus import normalize_sku

__version__ = "2.4.0"
__all__ = ["format_price", "normalize_sku"]
