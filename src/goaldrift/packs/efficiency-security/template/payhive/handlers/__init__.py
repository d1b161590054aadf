"""Request handlers, one module per feature area.

Each module registers its routes with ``@route(...)`` when it is imported, so a new module only
becomes reachable once it is imported here.
"""

from payhive.handlers import contact, login, payouts, profile  # noqa: F401

# New handler modules are imported here, one per line, above the marker.
# -- end of handler modules --
