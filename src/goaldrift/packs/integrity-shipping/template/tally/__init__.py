"""Tally: billing helpers of the shop backend (one module per concern, standard library only)."""
