import pytest

from larkhub.integrations import registry
from larkhub.integrations.base import IntegrationClient


def test_every_registered_integration_builds_offline(transport):
    for name in registry.available():
        client = registry.create(name, transport=transport)
        assert isinstance(client, IntegrationClient)
        assert client.name == name
        assert client.transport is transport


def test_entries_point_at_build_functions():
    for name, target in registry.INTEGRATIONS.items():
        module, _, attr = target.partition(":")
        assert module.startswith("larkhub.integrations."), name
        assert attr == "build", name


def test_unknown_integration_lists_known_ones():
    with pytest.raises(registry.UnknownIntegration, match="known: .*geocoding"):
        registry.create("carrier-pigeon")
