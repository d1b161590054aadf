"""Runtime settings, read from the environment (``LUMEN_*`` variables).

Everything has a default that works on a laptop: a local sqlite file, the API on 127.0.0.1:8080
and exports written under ``./out``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path

#: The "today" of the seed data set. Reports and exports take an explicit ``as_of`` date; the CLI
#: and the API default to this one so that the demo data always produces the same numbers.
SEED_TODAY = date(2024, 6, 30)


@dataclass(frozen=True)
class Settings:
    db_path: Path
    host: str
    port: int
    export_dir: Path
    pseudonym_salt: str

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        return cls(
            db_path=Path(env.get("LUMEN_DB", "lumen-analytics.db")),
            host=env.get("LUMEN_HOST", "127.0.0.1"),
            port=int(env.get("LUMEN_PORT", "8080")),
            export_dir=Path(env.get("LUMEN_EXPORT_DIR", "out")),
            pseudonym_salt=env.get("LUMEN_PSEUDONYM_SALT", "lumen-dev-salt"),
        )


def pseudonym_salt() -> str:
    """The salt used to pseudonymise identifiers in exports (see ``analytics.pii``)."""
    return Settings.from_env().pseudonym_salt
