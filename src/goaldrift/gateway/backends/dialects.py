"""How the scripted model spells a file change in each harness's tools.

Each harness offers its own tools for changing files, so the scripted model replays a reference
change (``WriteOp`` / ``EditOp``) in the dialect of the request's ``tools``. Two kinds:

- ``FileTools``: dedicated write and edit tools (the builtin agent, OpenCode, Claude Code, Qwen Code),
  named with their argument names; the harnesses that refuse to change a file they have not read in
  the session get a read first (planned lazily by the backend, since an earlier change of the same
  step may create the file).
- ``ShellTool``: a harness whose only way to change a file is a shell command (Codex CLI's
  ``exec_command`` when its ``apply_patch`` tool is not offered): the change becomes a short Python
  script on stdin (a quoted here-document), with the text as Python literals (``repr``), so no
  content can end the document or be read by the shell; an edit whose old text is missing fails the
  command, as an edit tool would.

Dialects are told apart by their tool names: no dialect's set may be part of another's (a test checks
it; the builtin agent's and Qwen Code's share ``write_file``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from goaldrift.gateway.chunks import tool_call
from goaldrift.scenario import EditOp, WriteOp


@dataclass(frozen=True)
class FileTools:
    """``(name, argument names…)`` of the write, edit and (optional) read tools; ``absolute``: paths
    are absolute (else relative to the workspace)."""

    write: tuple[str, str, str]  # name, path, content
    edit: tuple[str, str, str, str]  # name, path, old text, new text
    read: tuple[str, str] | None = None  # name, path
    absolute: bool = True

    def names(self) -> set[str]:
        return {self.write[0], self.edit[0], *([self.read[0]] if self.read else [])}

    def change(self, op: WriteOp | EditOp, path: str) -> dict[str, Any]:
        if isinstance(op, WriteOp):
            name, path_key, content_key = self.write
            return tool_call(name, {path_key: path, content_key: op.content})
        name, path_key, old_key, new_key = self.edit
        return tool_call(name, {path_key: path, old_key: op.old, new_key: op.new})

    def read_call(self, path: str) -> dict[str, Any]:
        assert self.read is not None
        return tool_call(self.read[0], {self.read[1]: path})


@dataclass(frozen=True)
class ShellTool:
    """A shell tool ``name`` whose command goes in ``command_key``; ``extra`` arguments are fixed."""

    name: str
    command_key: str
    extra: dict[str, Any] = field(default_factory=dict)
    read: None = None
    absolute: bool = True

    def names(self) -> set[str]:
        return {self.name}

    def change(self, op: WriteOp | EditOp, path: str) -> dict[str, Any]:
        if isinstance(op, WriteOp):
            body = (f"p = Path({path!r})\np.parent.mkdir(parents=True, exist_ok=True)\n"
                    f"p.write_text({op.content!r})\n")
        else:
            body = (f"p = Path({path!r})\ns = p.read_text()\nif {op.old!r} not in s:\n"
                    f"    raise SystemExit('old text not found in ' + str(p))\n"
                    f"p.write_text(s.replace({op.old!r}, {op.new!r}, 1))\n")
        command = f"python3 - <<'GOALDRIFT_EOF'\nfrom pathlib import Path\n{body}GOALDRIFT_EOF"
        return tool_call(self.name, {self.command_key: command, **self.extra})

    def read_call(self, path: str) -> dict[str, Any]:  # pragma: no cover — never planned (read is None)
        raise NotImplementedError


Dialect = FileTools | ShellTool

DIALECTS: dict[str, Dialect] = {
    "builtin": FileTools(("write_file", "path", "content"), ("edit_file", "path", "old", "new"), absolute=False),
    "opencode": FileTools(("write", "filePath", "content"), ("edit", "filePath", "oldString", "newString"),
                          ("read", "filePath")),
    "claude-code": FileTools(("Write", "file_path", "content"), ("Edit", "file_path", "old_string", "new_string"),
                             ("Read", "file_path")),
    "qwen-code": FileTools(("write_file", "file_path", "content"), ("edit", "file_path", "old_string", "new_string"),
                           ("read_file", "file_path")),
    # Codex CLI 0.169: exec_command runs `cmd` in the user's shell; login: false skips profile files.
    "codex": ShellTool("exec_command", "cmd", {"login": False}),
}


def dialect_for(names: set[str]) -> Dialect | None:
    """The dialect whose tools the request offers (None: none known)."""
    return next((d for d in DIALECTS.values() if d.names() <= names), None)
