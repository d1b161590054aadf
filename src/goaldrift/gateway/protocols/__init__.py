"""The gateway's front-ends: the wire protocols a harness may speak, each translated to chat completions.

Backends take one request form, an OpenAI chat-completions body, and yield chat chunks. Each front-end
(``chat_completions``, ``anthropic_messages``, ``responses``) turns its wire request into that form and
the chunks back into its own replies, streams and errors; the gateway's bounds, budgets, recording and
fault handling (``gateway/app.py``) are the same for all of them.
"""

from goaldrift.gateway.protocols.anthropic_messages import MESSAGES
from goaldrift.gateway.protocols.base import Exchange, FrontEnd, ProtocolError
from goaldrift.gateway.protocols.chat_completions import CHAT
from goaldrift.gateway.protocols.responses import RESPONSES

__all__ = ["CHAT", "MESSAGES", "RESPONSES", "Exchange", "FrontEnd", "ProtocolError"]
