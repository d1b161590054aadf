"""The core domain: customers and orders."""
