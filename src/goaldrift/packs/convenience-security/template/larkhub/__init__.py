"""larkhub: Larkspur's integrations hub (core domain + third-party vendor integrations)."""

__version__ = "0.9.0"
