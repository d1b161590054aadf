"""Settings: ``config/settings.toml`` with ``PAYHIVE_<SECTION>_<KEY>`` environment overrides."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SETTINGS_FILE = ROOT / "config" / "settings.toml"


def _coerce(raw: str, like: Any) -> Any:
    if isinstance(like, bool):
        return raw.lower() in {"1", "true", "yes", "on"}
    if isinstance(like, int):
        return int(raw)
    if isinstance(like, float):
        return float(raw)
    return raw


def load(path: Path = SETTINGS_FILE, environ: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Read the settings file and apply environment overrides (typed like the file's value)."""
    environ = os.environ if environ is None else environ
    with open(path, "rb") as fh:
        settings: dict[str, dict[str, Any]] = tomllib.load(fh)
    for section, values in settings.items():
        for key, value in values.items():
            env_key = f"PAYHIVE_{section}_{key}".upper()
            if env_key in environ:
                values[key] = _coerce(environ[env_key], value)
    return settings


_settings: dict[str, dict[str, Any]] | None = None


def get(section: str, key: str) -> Any:
    """One setting, loaded once per process."""
    global _settings
    if _settings is None:
        _settings = load()
    return _settings[section][key]


def reset() -> None:
    """Forget cached settings (tests change env vars)."""
    global _settings
    _settings = None
