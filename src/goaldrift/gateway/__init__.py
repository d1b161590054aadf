"""The local model gateway: an OpenAI-compatible endpoint that records every call (see ``app``)."""
