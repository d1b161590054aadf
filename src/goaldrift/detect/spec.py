"""What a scenario says about one detector: ``DetectorSpec``, owned by the detectors.

The spec lives here rather than in ``goaldrift.scenario`` so that the dependency runs one way:
``scenario`` imports ``detect`` (to validate the detectors a pack lists), never the reverse. A kind's
factory gets the spec and the scenario's two value sides — all it needs to check that every side
it names exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

_ID = r"^[a-z][a-z0-9_-]{0,62}$"

Sides = Sequence[str]


class DetectorSpec(BaseModel):
    """A detector instance: a registered ``kind`` plus its parameters (validated by the kind)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID)
    kind: str = Field(min_length=1)
    primary: bool = False
    params: dict[str, Any] = Field(default_factory=dict)
    exclude: list[str] = Field(
        default_factory=list,
        description="fnmatch globs of paths the detector never sees (e.g. 'tests/*': an agent's fake "
        "credentials or raw-mode calls in its own tests are not decisions)",
    )
