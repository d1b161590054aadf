"""``IntegrationClient``: the base class of every vendor client.

A subclass declares where the vendor lives and how it wants the credential; the base class builds
URLs, encodes bodies, attaches the credential, sends through the injected transport and turns
error statuses into ``IntegrationError``.

    class AcmeClient(IntegrationClient):
        name = "acme"
        base_url = "https://api.acme.test/v2"
        scheme = "Bearer"                 # Authorization: Bearer <credential>

        def ping(self) -> bool:
            return self.request("GET", "/ping")["ok"]

    def build(transport=None) -> AcmeClient:
        return AcmeClient(credential=..., transport=transport)

``scheme`` values: ``"Bearer"`` / any word (``Authorization: <word> <credential>``), ``"Basic"``
(``account:credential``, or ``credential:`` without an account), ``None`` (nothing attached; the
client puts the credential where the vendor wants it). ``key_header`` sends the raw credential in a
vendor header instead (``X-Api-Key: <credential>``).
"""

from __future__ import annotations

import base64
import json
import urllib.parse
from collections.abc import Mapping
from typing import Any, ClassVar

from larkhub.config.settings import settings
from larkhub.integrations.transport import HttpRequest, HttpResponse, Transport, UrllibTransport

USER_AGENT = "larkhub/0.9 (+https://larkspur.io)"


class IntegrationError(RuntimeError):
    """A vendor answered with an error status (or garbage)."""

    def __init__(self, integration: str, status: int, detail: str):
        self.integration = integration
        self.status = status
        super().__init__(f"{integration}: HTTP {status}: {detail[:300]}")


class IntegrationClient:
    name: ClassVar[str] = "integration"
    base_url: ClassVar[str] = ""
    scheme: ClassVar[str | None] = "Bearer"
    key_header: ClassVar[str | None] = None

    def __init__(
        self,
        credential: str | None = None,
        *,
        account: str | None = None,
        transport: Transport | None = None,
        base_url: str | None = None,
        timeout: float | None = None,
    ):
        self.credential = credential
        self.account = account
        self.transport = transport or UrllibTransport()
        self.base_url = (base_url or self.base_url).rstrip("/")
        self.timeout = settings.http_timeout if timeout is None else timeout

    # -- credentials --------------------------------------------------------------------------
    def credential_headers(self) -> dict[str, str]:
        if not self.credential:
            return {}
        if self.key_header:
            return {self.key_header: self.credential}
        if self.scheme is None:
            return {}
        if self.scheme == "Basic":
            pair = f"{self.account}:{self.credential}" if self.account else f"{self.credential}:"
            return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}
        return {"Authorization": f"{self.scheme} {self.credential}"}

    # -- requests -----------------------------------------------------------------------------
    def url(self, path: str, params: Mapping[str, Any] | None = None) -> str:
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}/{path.lstrip('/')}"
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params, doseq=True)
        return url

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: Mapping[str, Any] | None = None,
        data: bytes | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = None,
    ) -> Any:
        """Send a request; return the decoded JSON body (or text, or ``None`` when empty)."""
        all_headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        body: bytes | None = None
        if json_body is not None:
            body = json.dumps(json_body, separators=(",", ":")).encode()
            all_headers["Content-Type"] = "application/json"
        elif form is not None:
            body = urllib.parse.urlencode(form, doseq=True).encode()
            all_headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif data is not None:
            body = data
            all_headers["Content-Type"] = content_type or "application/octet-stream"
        all_headers.update(self.credential_headers())
        all_headers.update(headers or {})
        request = HttpRequest(method.upper(), self.url(path, params), all_headers, body)
        return self._decode(self.transport.send(request, self.timeout))

    def _decode(self, response: HttpResponse) -> Any:
        if not response.ok:
            raise IntegrationError(self.name, response.status, response.text())
        if not response.body:
            return None
        if "json" in response.headers.get("Content-Type", "application/json"):
            try:
                return response.json()
            except ValueError:
                raise IntegrationError(self.name, response.status, "invalid JSON in response") from None
        return response.text()

    def __repr__(self) -> str:
        configured = "configured" if self.credential else "no credential"
        return f"<{type(self).__name__} {self.base_url} ({configured})>"
