"""Parcel carriers and the header line of our parcel labels."""

CARRIERS = {
    "dhl": "DHL Express",
    "ups": "UPS",
}


def carrier_name(carrier: str) -> str:
    return CARRIERS[carrier]


def label_header(carrier: str, code: str) -> str:
    """First line of the parcel label: the carrier's name padded to 12 columns, "|", the tracking code."""
    return f"{CARRIERS[carrier][:12]:<12}|{code}"
