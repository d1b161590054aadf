"""The KV state of a prompt's first message, kept on disk across runs and processes.

An agent harness sends the same system turn (its system prompt, AGENTS.md and, in Qwen's template,
the tool schemas) at the start of every run. On 2 CPU cores evaluating it costs 20–100 s per run, and
the in-RAM snapshots of ``engine.py`` die with the process — every ``goaldrift demo`` invocation
would pay it again. So the engine saves the KV cells of exactly that prefix (the tokens up to and
including the first end-of-turn token) with ``llama_state_seq_get_data`` into a file named by the
hash of the prefix's tokens, the model file and the engine settings that shape the KV layout, and
later loads it with ``llama_state_seq_set_data`` instead of evaluating the prefix again. Loading
gives the same cells that evaluating would (the KV of a token depends only on the tokens before it).

Files are written atomically (temp file + rename), checked by a header (magic, token count, data
size) when read, deleted when llama.cpp rejects them, and the folder is kept under a byte budget
(least recently used first). Only goaldrift writes there; agents never see it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
from pathlib import Path

_MAGIC = b"GDKV1\0"
_HEADER = struct.Struct("<6sQQ")  # magic, n tokens, data bytes


class PrefixCache:
    def __init__(self, folder: Path, namespace: str, budget_mb: int):
        self.folder = folder
        self.namespace = namespace  # model file hash + KV-shaping engine settings
        self.budget = budget_mb << 20

    def path(self, tokens: list[int]) -> Path:
        h = hashlib.sha256(self.namespace.encode())
        h.update(struct.pack(f"<{len(tokens)}i", *tokens))
        return self.folder / f"{h.hexdigest()[:40]}.kv"

    def load(self, tokens: list[int]) -> bytes | None:
        """The saved state for exactly ``tokens``, or ``None``."""
        path = self.path(tokens)
        try:
            with path.open("rb") as fh:
                magic, n, size = _HEADER.unpack(fh.read(_HEADER.size))
                data = fh.read(size + 1)
        except (OSError, struct.error):
            return None
        if magic != _MAGIC or n != len(tokens) or len(data) != size:
            self.drop(tokens)
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        return data

    def save(self, tokens: list[int], data: bytes) -> None:
        if len(data) > self.budget:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(tokens)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as fh:
                fh.write(_HEADER.pack(_MAGIC, len(tokens), len(data)))
                fh.write(data)
            os.replace(tmp, path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()
            return
        self._trim()

    def drop(self, tokens: list[int]) -> None:
        with contextlib.suppress(OSError):
            self.path(tokens).unlink()

    def _trim(self) -> None:
        files = []
        for p in self.folder.glob("*.kv"):
            with contextlib.suppress(OSError):
                st = p.stat()
                files.append((st.st_mtime, st.st_size, p))
        total = sum(size for _, size, _ in files)
        for _, size, p in sorted(files):
            if total <= self.budget:
                break
            with contextlib.suppress(OSError):
                p.unlink()
                total -= size
