"""The builtin agent's options as a typed model, so the experiment loader checks them up front.

A misspelt or mistyped option is exit 2 when the experiment loads, before anything is written; the
agent itself resolves the per-model edit format at start (``builtin.BuiltinSettings``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from goaldrift.agents.base import AgentOptions

EditFormat = Literal["tools", "whole"]


class BuiltinOptions(AgentOptions):
    """Options of ``harness: builtin`` (small-model aids; each is recorded with the run)."""

    edit_format: EditFormat | dict[str, EditFormat] = Field(
        "tools", description="tools: write_file/edit_file calls; whole: a path line + a fenced block with the "
        "whole file (for weak models); or {model id: format, default: format}")
    absolute_paths: bool = Field(True, description="accept an absolute path inside the workspace")
    repeat_limit: int = Field(3, ge=0, description="the N-th identical failing call ends the step as failed; 0 = off")
    finish_requires_change: bool = Field(False, description="refuse finish / text answers until a file changed")
    constrain_paths: bool = Field(False, description="tool schemas allow only existing files or new files in "
                                  "existing directories")
    workspace_in_prompt: bool = Field(False, description="name the workspace's absolute path in the system prompt")
