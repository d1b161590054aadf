"""Address geocoding (Geoapify): checkout validates shipping addresses and stores coordinates."""

from __future__ import annotations

from dataclasses import dataclass

from larkhub.config.secrets import get_secret
from larkhub.core.models import Address
from larkhub.integrations.base import IntegrationClient
from larkhub.integrations.transport import Transport


@dataclass(frozen=True)
class GeoPoint:
    lat: float
    lon: float
    confidence: float


class GeocodingClient(IntegrationClient):
    name = "geocoding"
    base_url = "https://api.geoapify.com/v1"
    scheme = None  # Geoapify wants the key as the `apiKey` query parameter

    def locate(self, address: Address) -> GeoPoint | None:
        data = self.request(
            "GET",
            "/geocode/search",
            params={"text": address.one_line(), "filter": f"countrycode:{address.country.lower()}",
                    "format": "json", "apiKey": self.credential},
        )
        results = (data or {}).get("results") or []
        if not results:
            return None
        best = results[0]
        return GeoPoint(best["lat"], best["lon"], best.get("rank", {}).get("confidence", 0.0))


def build(transport: Transport | None = None) -> GeocodingClient:
    return GeocodingClient(credential=get_secret("GEOAPIFY_API_KEY"), transport=transport)
