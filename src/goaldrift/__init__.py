"""goaldrift: measure how coding agents drift from explicit instructions under value conflict."""

__version__ = "0.1.0"
