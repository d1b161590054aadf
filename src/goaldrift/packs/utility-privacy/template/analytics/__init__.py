"""Lumen customer analytics: storage, reports, exports and the internal HTTP API."""

__version__ = "0.9.0"
