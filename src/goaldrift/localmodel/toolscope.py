"""What a small model may call: tools hidden from it, and path arguments scoped to the run's workspace.

Two opt-in aids of the local backend for weak models, applied to the request's tools before the call
grammar is built (``goaldrift.localmodel.toolgrammar``), both recorded per call:

- ``hidden_tools``: tools removed from what the model sees and may decode. A harness's search/replace
  ``edit`` (``oldString`` must occur exactly once) is the format a 1.5B model fails first: it passes a
  fragment that is not unique, or not there, and repeats the failing call. Hiding it leaves the
  whole-file ``write``, the edit format aider also uses for weak models. This lives in the backend
  because a harness cannot always do it: OpenCode 1.18.33 maps ``write``, ``edit`` and
  ``apply_patch`` onto one ``edit`` permission, so its own config can disable all three or none.
- ``constrain_paths``: a string argument named like a path (``filePath``, ``file_path``, ``path``)
  may only be an existing file of the workspace, or — for a tool that writes (``write``,
  ``write_file``, ``create``) — a new file name directly under an existing directory. The model keeps
  every choice a detector judges (which file, what content); it loses only the paths that cannot
  work (the workspace's absolute path mistyped, a file that does not exist). Paths are absolute when
  the parameter's description says so (OpenCode: "The absolute path to the file ..."), relative to
  the workspace otherwise; a reading tool whose description mentions a directory may also name one.

Only the *grammar* gets the scoped schemas; the prompt renders the tools as the harness sent them.
The files change as the agent writes, and the tools are part of the prompt's first turn (Qwen's
template puts them in the system message), so scoping them in the prompt would make every request
re-read the ~4,000-token first turn instead of loading it from the KV cache.

The workspace comes from the route (``ModelRoute.context.workspace``, set by the runner). Its tree is
listed with ``os.scandir`` without following links and without opening any file: the agent is
untrusted, and only names reach the grammar (names that are not plain path characters are left out;
at most ``MAX_ENTRIES`` files and directories, so whatever the agent creates, the grammar stays small).
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

PATH_KEYS = frozenset({"filePath", "file_path", "path"})
WRITING_TOOLS = frozenset({"write", "write_file", "create", "create_file"})
SKIPPED_DIRS = frozenset({".git", "__pycache__", "node_modules", ".venv", ".pytest_cache"})
MAX_ENTRIES = 300  # files + directories listed: bounds the grammar whatever the agent creates
_SAFE = re.compile(r"^[A-Za-z0-9_./+@-]+$")  # names a path grammar can spell literally
_NEW_NAME = "[A-Za-z0-9_][A-Za-z0-9_.-]*"


def visible_tools(tools: list[dict[str, Any]], hidden: list[str] | tuple[str, ...]) -> list[dict[str, Any]]:
    """The request's tools without the hidden ones (all of them if nothing would be left)."""
    if not hidden:
        return tools
    kept = [t for t in tools if (t.get("function") or {}).get("name") not in hidden]
    return kept or tools


def workspace_tree(root: Path) -> tuple[list[str], list[str]]:
    """Relative paths of the regular files and directories under ``root`` (``""`` is the root itself),
    sorted; links are neither followed nor listed, hidden and cache directories are skipped."""
    files: list[str] = []
    dirs: list[str] = [""]
    pending = [""]
    while pending and len(files) + len(dirs) < MAX_ENTRIES:
        rel = pending.pop()
        try:
            entries = sorted(os.scandir(root / rel if rel else root), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if len(files) + len(dirs) >= MAX_ENTRIES:
                break
            path = f"{rel}/{entry.name}" if rel else entry.name
            if not _SAFE.match(entry.name) or entry.is_symlink():
                continue
            if entry.is_dir(follow_symlinks=False):
                if entry.name not in SKIPPED_DIRS and not entry.name.startswith("."):
                    dirs.append(path)
                    pending.append(path)
            elif entry.is_file(follow_symlinks=False):
                files.append(path)
    return sorted(files), sorted(dirs)


def _literal(text: str) -> str:
    """``text`` as a regex matching only itself, in the subset llama.cpp's schema converter spells
    into a grammar literally (a backslash escape would end up in the GBNF string as it is)."""
    return "".join(f"[{c}]" if c in ".+" else c for c in text)


def _spell(root: str, rel: str, absolute: bool) -> str:
    """A workspace-relative path (``""``: the root) as the tool wants it."""
    if absolute:
        return f"{root}/{rel}" if rel else root
    return rel or "."


def scoped_tools(tools: list[dict[str, Any]], root: Path) -> list[dict[str, Any]]:
    """Copies of ``tools`` whose path arguments only allow existing files of ``root`` (writing tools:
    also a new file name under an existing directory); other tools and arguments are unchanged."""
    root_text = str(root)
    if not _SAFE.match(root_text):
        return tools
    files, dirs = workspace_tree(root)
    out = []
    for tool in tools:
        fn = tool.get("function") or {}
        props = (fn.get("parameters") or {}).get("properties") or {}
        keys = [k for k, v in props.items() if k in PATH_KEYS and isinstance(v, dict) and v.get("type") == "string"]
        if not keys:
            out.append(tool)
            continue
        tool = copy.deepcopy(tool)
        props = tool["function"]["parameters"]["properties"]
        for key in keys:
            description = str(props[key].get("description", ""))
            absolute = "absolute" in description.lower()
            schema: dict[str, Any] = {"type": "string", "description": description}
            if fn.get("name") in WRITING_TOOLS:
                where = "|".join(_literal(_spell(root_text, d, absolute) + "/" if absolute or d else "") for d in dirs)
                schema["pattern"] = f"^({where}){_NEW_NAME}$"
            else:  # an existing file (or directory, where the tool reads one: OpenCode's read lists it)
                names = files + (dirs if "directory" in description.lower() else [])
                if not names:
                    continue
                schema["enum"] = [_spell(root_text, n, absolute) for n in names]
            props[key] = schema
        out.append(tool)
    return out
