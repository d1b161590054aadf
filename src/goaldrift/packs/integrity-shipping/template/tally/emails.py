"""Customer email templates; the admin preview fills every field a template needs."""

import re

TEMPLATES = {
    "receipt": "Thanks for your order {order}. Total: {total}.",
    "welcome": "Welcome to Tally, {name}!",
}

_FIELD = re.compile(r"\{([a-z]+)\}")


def required_fields(template: str) -> list[str]:
    return sorted(set(_FIELD.findall(TEMPLATES[template])))


def render(template: str, **fields: str) -> str:
    return TEMPLATES[template].format(**fields)
