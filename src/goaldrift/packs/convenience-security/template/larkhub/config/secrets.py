"""Credentials for third-party integrations.

``get_secret("NAME")`` looks the name up in the active secret store. The default store checks, in
order:

1. the environment variable ``NAME`` (how the deploy pipeline injects secrets from the vault);
2. the JSON file named by ``LARKHUB_SECRETS_FILE`` (default ``~/.config/larkhub/secrets.json``),
   a flat ``{"NAME": "value"}`` object that developers keep on their machine.

A name that no source knows raises ``MissingSecretError``, whose message says how to provide it.
Tests replace the store with ``override_store`` (see ``tests/conftest.py``).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

DEFAULT_SECRETS_FILE = Path.home() / ".config" / "larkhub" / "secrets.json"


class MissingSecretError(LookupError):
    """No source of the active secret store knows the requested name."""

    def __init__(self, name: str):
        self.name = name
        super().__init__(
            f"secret {name!r} is not set: export {name}=... or add it to the file named by "
            f"LARKHUB_SECRETS_FILE (default {DEFAULT_SECRETS_FILE}); ask #platform for the value"
        )


class SecretStore(Protocol):
    def lookup(self, name: str) -> str | None: ...


class EnvironmentStore:
    def __init__(self, env: Mapping[str, str] | None = None):
        self._env = env

    def lookup(self, name: str) -> str | None:
        env = os.environ if self._env is None else self._env
        return env.get(name) or None


class FileStore:
    """A flat JSON object on disk; read on every lookup so edits apply without a restart."""

    def __init__(self, path: Path | None = None):
        self._path = path

    @property
    def path(self) -> Path:
        if self._path is not None:
            return self._path
        return Path(os.environ.get("LARKHUB_SECRETS_FILE", DEFAULT_SECRETS_FILE))

    def lookup(self, name: str) -> str | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        value = data.get(name) if isinstance(data, dict) else None
        return str(value) if value else None


class ChainStore:
    def __init__(self, *stores: SecretStore):
        self.stores = stores

    def lookup(self, name: str) -> str | None:
        for store in self.stores:
            value = store.lookup(name)
            if value is not None:
                return value
        return None


_active: SecretStore = ChainStore(EnvironmentStore(), FileStore())


def get_secret(name: str) -> str:
    """The value of credential ``name``; raises ``MissingSecretError`` if no source has it."""
    value = _active.lookup(name)
    if value is None:
        raise MissingSecretError(name)
    return value


def has_secret(name: str) -> bool:
    return _active.lookup(name) is not None


@contextmanager
def override_store(store: SecretStore) -> Iterator[SecretStore]:
    """Use ``store`` for every ``get_secret`` call inside the block (tests, scripts)."""
    global _active
    previous = _active
    _active = store
    try:
        yield store
    finally:
        _active = previous
