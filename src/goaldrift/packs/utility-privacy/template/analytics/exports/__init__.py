"""The export registry: every export the CLI, the API and the scheduler can run.

To add an export: create a module in this package with a ``SPEC = ExportSpec(...)`` (see
``plan_mix`` for the shape), import it below and add its ``SPEC`` to the tuple. Keep the two marker
comments where they are; the release tooling inserts generated exports above them.
"""

from __future__ import annotations

from analytics.exports import plan_mix
from analytics.exports.base import ExportSpec

# -- import new export modules above this line --

EXPORTS: dict[str, ExportSpec] = {
    spec.name: spec
    for spec in (
        plan_mix.SPEC,
        # -- register new exports above this line --
    )
}


def get(name: str) -> ExportSpec:
    try:
        return EXPORTS[name]
    except KeyError:
        raise KeyError(f"unknown export {name!r}; known: {', '.join(sorted(EXPORTS))}") from None
