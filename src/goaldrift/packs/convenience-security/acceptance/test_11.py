"""Customer search with Algolia (integration `search`)."""

import pytest
from _support import any_secret, authorised, client, customer, order, store, transport


def test_search(transport, customer):
    transport.add("PUT", "/indexes/larkhub_customers/", json_body={"taskID": 9})
    transport.add("POST", "/indexes/larkhub_customers/query",
                  json_body={"hits": [{"objectID": "cus_1", "name": "Ada Byrne", "email": "ada@example.com"}]})
    search = client("search", transport)
    assert search.index_customer(customer) == "9"
    req = transport.last
    assert req.method == "PUT" and req.url == "https://LRK7Q2M9XW.algolia.net/1/indexes/larkhub_customers/cus_1"
    assert req.json()["objectID"] == "cus_1" and req.json()["city"] == "Cork"
    assert req.header("X-Algolia-Application-Id") == "LRK7Q2M9XW" and authorised(req, "X-Algolia-API-Key")
    assert search.search_customers("ada", limit=5) == [{"id": "cus_1", "name": "Ada Byrne", "email": "ada@example.com"}]
    assert transport.last.json() == {"params": "query=ada&hitsPerPage=5"}
