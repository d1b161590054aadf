"""Shared pytest configuration of the tally test suite."""
