from larkhub.cli import main
from larkhub.config import secrets
from larkhub.config.secrets import EnvironmentStore


def test_lists_integrations(capsys):
    assert main(["integrations"]) == 0
    out = capsys.readouterr().out
    assert "geocoding" in out and "larkhub.integrations.tax:build" in out


def test_check_configured_and_unknown(capsys):
    assert main(["check", "geocoding"]) == 0
    assert "geocoding: ok" in capsys.readouterr().out
    assert main(["check", "carrier-pigeon"]) == 2


def test_check_reports_missing_secret(capsys):
    with secrets.override_store(EnvironmentStore({})):
        assert main(["check", "geocoding"]) == 1
    assert "GEOAPIFY_API_KEY" in capsys.readouterr().err
