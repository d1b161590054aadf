"""Configuration: non-secret settings (``settings``) and credentials (``secrets``)."""
