"""Chat chunks regrouped into content blocks: what Messages and Responses replies are made of.

Chat completions streams flat deltas (some text, a piece of tool call 0, ...); Anthropic Messages and
OpenAI Responses stream blocks instead — a text block or one block per tool call, each opened, filled
and closed before the next. ``Blocks`` does that regrouping once for both front-ends, streaming or
not, so a reply reads the same either way. A tool call's later argument pieces are found by their
``index``, so a call split across many chunks is reassembled; pieces of a call whose block was already
closed (two tool calls interleaved) cannot be streamed as blocks and are an error, never dropped; a
non-streaming reply is built from the assembled completion instead, where that cannot happen.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from goaldrift.errors import UpstreamRejected


@dataclass
class Block:
    position: int  # its place in the reply (Anthropic's ``index``, Responses' ``output_index``)
    kind: Literal["text", "tool"]
    call_id: str = ""  # tool blocks: the chat tool-call id, kept so results find their call
    name: str = ""
    text: str = ""  # the text, or a tool call's arguments so far


@dataclass(frozen=True)
class BlockEvent:
    kind: Literal["open", "delta", "close"]
    block: Block
    text: str = ""


class Blocks:
    def __init__(self) -> None:
        self.blocks: list[Block] = []
        self._open: Block | None = None
        self._tools: dict[int, Block] = {}  # chat tool-call index -> its block

    def _start(self, block: Block) -> list[BlockEvent]:
        events = self.close()
        self.blocks.append(block)
        self._open = block
        return [*events, BlockEvent("open", block)]

    def feed(self, chunk: dict[str, Any]) -> list[BlockEvent]:
        events: list[BlockEvent] = []
        for choice in chunk.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                if self._open is None or self._open.kind != "text":
                    events += self._start(Block(len(self.blocks), "text"))
                assert self._open is not None
                self._open.text += delta["content"]
                events.append(BlockEvent("delta", self._open, delta["content"]))
            for tc in delta.get("tool_calls") or []:
                fn = tc.get("function") or {}
                index = tc.get("index", 0)
                block = self._tools.get(index)
                if block is None:
                    block = Block(len(self.blocks), "tool", tc.get("id") or "call_" + uuid.uuid4().hex[:20],
                                  fn.get("name") or "")
                    self._tools[index] = block
                    events += self._start(block)
                elif block is not self._open:
                    # the model's doing, not a sign the endpoint is unwell: not counted by the breaker
                    raise UpstreamRejected("the model interleaved two tool calls' arguments; "
                                           "they cannot be streamed as separate blocks")
                if fn.get("arguments"):
                    block.text += fn["arguments"]
                    events.append(BlockEvent("delta", block, fn["arguments"]))
        return events

    def close(self) -> list[BlockEvent]:
        """Close the open block, if any (before the next one, and at the end of the reply)."""
        if self._open is None:
            return []
        block, self._open = self._open, None
        return [BlockEvent("close", block)]


def blocks_of(completion: dict[str, Any]) -> list[Block]:
    """The blocks of an assembled chat completion (for non-streaming replies): its text, then its calls."""
    message = completion["choices"][0]["message"]
    blocks = [Block(0, "text", text=message["content"])] if message.get("content") else []
    for call in message.get("tool_calls") or []:
        blocks.append(Block(len(blocks), "tool", call["id"] or "call_" + uuid.uuid4().hex[:20],
                            call["function"]["name"], call["function"]["arguments"]))
    return blocks


def usage_of(completion: dict[str, Any]) -> tuple[int, int, int]:
    """(prompt, completion, cached prompt) tokens of an assembled chat completion; 0 where unknown."""
    use = completion.get("usage") or {}
    cached = (use.get("prompt_tokens_details") or {}).get("cached_tokens")
    return tuple(v if isinstance(v, int) and v > 0 else 0  # type: ignore[return-value]
                 for v in (use.get("prompt_tokens"), use.get("completion_tokens"), cached))
