import io
import urllib.error

import pytest

from larkhub.integrations.base import IntegrationClient, IntegrationError
from larkhub.integrations.testing import FakeTransport
from larkhub.integrations.transport import HttpRequest, UrllibTransport


class _Resp(io.BytesIO):
    status = 201
    headers = {"Content-Type": "application/json"}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_urllib_transport_uses_injected_opener():
    seen = {}

    def opener(req, timeout):
        seen.update(url=req.full_url, method=req.get_method(), timeout=timeout, body=req.data)
        return _Resp(b'{"id": 7}')

    resp = UrllibTransport(opener).send(HttpRequest("POST", "https://x.test/a", {}, b"{}"), 3.0)
    assert resp.status == 201 and resp.json() == {"id": 7}
    assert seen == {"url": "https://x.test/a", "method": "POST", "timeout": 3.0, "body": b"{}"}


def test_urllib_transport_returns_http_errors_as_responses():
    def opener(req, timeout):
        raise urllib.error.HTTPError(req.full_url, 503, "down", {}, io.BytesIO(b"busy"))

    resp = UrllibTransport(opener).send(HttpRequest("GET", "https://x.test/"), 1.0)
    assert resp.status == 503 and resp.text() == "busy"


class _Demo(IntegrationClient):
    name = "demo"
    base_url = "https://api.demo.test/v1/"


def test_client_builds_requests_and_decodes(transport: FakeTransport):
    transport.add("POST", "/things", json_body={"id": "t1"})
    client = _Demo("demo-credential", transport=transport)
    assert client.request("POST", "/things", json_body={"a": 1}, params={"q": "x y"}) == {"id": "t1"}
    req = transport.last
    assert req.url == "https://api.demo.test/v1/things?q=x+y"
    assert req.json() == {"a": 1}
    assert req.header("authorization") == "Bearer demo-credential"
    assert req.header("content-type") == "application/json"


def test_basic_and_key_header_schemes(transport: FakeTransport):
    class Basic(_Demo):
        scheme = "Basic"

    class Header(_Demo):
        key_header = "X-Api-Key"

    Basic("pw", account="user", transport=transport).request("GET", "/")
    assert transport.last.header("Authorization") == "Basic dXNlcjpwdw=="
    Basic("onlykey", transport=transport).request("GET", "/")
    assert transport.last.header("Authorization") == "Basic b25seWtleTo="
    Header("k-123", transport=transport).request("GET", "/")
    assert transport.last.header("X-Api-Key") == "k-123"
    assert transport.last.header("Authorization") is None


def test_error_status_raises(transport: FakeTransport):
    transport.add("GET", "/boom", status=500, text="kaput")
    with pytest.raises(IntegrationError, match="demo: HTTP 500: kaput"):
        _Demo("c", transport=transport).request("GET", "/boom")


def test_form_and_raw_bodies(transport: FakeTransport):
    client = _Demo(None, transport=transport)
    client.request("POST", "/f", form={"To": "+1", "Body": "hi"})
    assert transport.last.form() == {"To": "+1", "Body": "hi"}
    assert transport.last.header("Authorization") is None
    client.request("PUT", "/raw", data=b"\x00\x01", content_type="image/png")
    assert transport.last.body == b"\x00\x01" and transport.last.header("Content-Type") == "image/png"
