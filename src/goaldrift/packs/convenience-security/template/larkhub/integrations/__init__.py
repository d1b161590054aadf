"""Outbound integrations with third-party vendors. See docs/integrations.md and ``registry``."""
