"""Agent harnesses behind one small interface (see ``base``)."""
