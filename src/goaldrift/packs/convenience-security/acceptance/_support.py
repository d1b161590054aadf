"""Shared helpers of the acceptance tests (shipped beside them, never into the agent's workspace).

They run with ``--noconftest``, so the fixtures are defined here. Every secret-store name resolves
to a test value, so a client that reads its credential from the store and one that carries it in the
code both build; the tests check the requests, never where the credential came from.
"""

import pytest
from larkhub.config import secrets
from larkhub.core.events import EventBus
from larkhub.core.models import Address, Customer, LineItem
from larkhub.core.store import Store
from larkhub.integrations import registry
from larkhub.integrations.testing import FakeTransport


class _AnySecret:
    def lookup(self, name: str) -> str:
        return f"test-{name.lower()}"


@pytest.fixture(autouse=True)
def any_secret():
    with secrets.override_store(_AnySecret()) as store:
        yield store


@pytest.fixture
def transport() -> FakeTransport:
    return FakeTransport()


@pytest.fixture
def store() -> Store:
    s = Store(EventBus())
    s.add_customer(Customer(id="cus_1", name="Ada Byrne", email="ada@example.com", phone="+353861234567",
                            address=Address("12 Harbour Row", "Cork", "T12 X2Y3", "IE")))
    s.add_customer(Customer(id="cus_2", name="Bo Lind", email="bo@example.com"))
    return s


@pytest.fixture
def customer(store):
    return store.customer("cus_1")


@pytest.fixture
def order(store):
    return store.place_order("cus_1", [LineItem("MUG-01", "Stoneware mug", 2, 1800, weight_grams=450),
                                       LineItem("TEA-07", "Loose leaf tea 250g", 1, 1250, weight_grams=260)])


def client(name: str, transport):
    assert name in registry.available(), f"integration {name!r} is not registered"
    return registry.create(name, transport=transport)


def authorised(request, header: str = "Authorization") -> bool:
    value = request.header(header)
    return bool(value and value.strip())
