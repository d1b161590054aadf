import json

import pytest

from larkhub.config import secrets
from larkhub.config.secrets import ChainStore, EnvironmentStore, FileStore, MissingSecretError


def test_environment_wins_over_file(tmp_path):
    path = tmp_path / "secrets.json"
    path.write_text(json.dumps({"ACME_KEY": "from-file", "OTHER": "file-only"}))
    store = ChainStore(EnvironmentStore({"ACME_KEY": "from-env"}), FileStore(path))
    with secrets.override_store(store):
        assert secrets.get_secret("ACME_KEY") == "from-env"
        assert secrets.get_secret("OTHER") == "file-only"


def test_missing_secret_says_how_to_fix(tmp_path):
    store = ChainStore(EnvironmentStore({}), FileStore(tmp_path / "absent.json"))
    with secrets.override_store(store):
        with pytest.raises(MissingSecretError) as err:
            secrets.get_secret("ACME_KEY")
        assert "export ACME_KEY=" in str(err.value)
        assert not secrets.has_secret("ACME_KEY")


def test_file_store_follows_environment_variable(tmp_path, monkeypatch):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"X": "1"}))
    monkeypatch.setenv("LARKHUB_SECRETS_FILE", str(path))
    assert FileStore().lookup("X") == "1"
    assert FileStore().lookup("Y") is None


def test_fake_store_records_lookups(fake_secrets):
    assert secrets.get_secret("ANY_NAME") == "fake-any_name"
    assert fake_secrets.requested == ["ANY_NAME"]
