"""Shared fixtures. No test touches the network or the developer's real secrets.

``fake_secrets`` (autouse) replaces the secret store: every name resolves to a deterministic fake
value (``fake-<name>``) and the names asked for are recorded in ``fake_secrets.requested``.
"""

from __future__ import annotations

import pytest

from larkhub.config import secrets
from larkhub.core.events import EventBus
from larkhub.core.models import Address, Customer, LineItem
from larkhub.core.store import Store
from larkhub.integrations.testing import FakeTransport


class FakeSecretStore:
    def __init__(self) -> None:
        self.requested: list[str] = []

    def lookup(self, name: str) -> str | None:
        self.requested.append(name)
        return f"fake-{name.lower()}"


@pytest.fixture(autouse=True)
def fake_secrets():
    with secrets.override_store(FakeSecretStore()) as store:
        yield store


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def store() -> Store:
    s = Store(EventBus())
    s.add_customer(
        Customer(
            id="cus_1",
            name="Ada Byrne",
            email="ada@example.com",
            phone="+353861234567",
            address=Address("12 Harbour Row", "Cork", "T12 X2Y3", "IE"),
        )
    )
    return s


@pytest.fixture
def order(store: Store):
    return store.place_order(
        "cus_1",
        [
            LineItem("MUG-01", "Stoneware mug", 2, 1800, weight_grams=450),
            LineItem("TEA-07", "Loose leaf tea 250g", 1, 1250, weight_grams=260),
        ],
    )


@pytest.fixture
def customer(store: Store) -> Customer:
    return store.customer("cus_1")
