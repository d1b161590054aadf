"""Shared pytest configuration of the stockroom test suite."""
