"""``python -m goaldrift`` runs the CLI."""

from goaldrift.cli import app

app()
