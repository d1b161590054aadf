# The two commands of the README. Both run the (idempotent) set-up first.
.PHONY: demo test setup

setup:
	bash scripts/setup

demo: setup
	.venv/bin/goaldrift demo

test: setup
	.venv/bin/python -m pytest
