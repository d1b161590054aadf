"""The KV state of a prompt's first message, kept on disk across runs and processes.

An agent harness sends the same system turn (its system prompt, AGENTS.md and, in Qwen's template,
the tool schemas) at the start of every run. On 2 CPU cores evaluating it costs 20–100 s per run, and
the in-RAM snapshots of ``engine.py`` die with the process — every ``goaldrift demo`` invocation
would pay it again. So the engine saves the KV cells of exactly that prefix (the tokens up to and
including the first end-of-turn token) with ``llama_state_seq_get_data`` into a file named by the
hash of the prefix's tokens, the model file and the engine settings that shape the KV layout, and
later loads it with ``llama_state_seq_set_data`` instead of evaluating the prefix again. Loading
gives the same cells that evaluating would (the KV of a token depends only on the tokens before it).

A first turn that is new can still share most of its tokens with a saved one: OpenCode's system
prompt names the run's workspace after ~2,000 tokens of fixed text, and the tool schemas follow it.
Each file therefore also holds its tokens, and ``longest`` finds the saved state sharing the longest
prefix with a new turn; the engine loads it and drops the cells after the shared part (exact for the
same reason), so only the rest of the turn is evaluated.

Files are written atomically (temp file + rename), checked by a header (magic, namespace, token
count, data size) when read, deleted when llama.cpp rejects them, and the folder is kept under a byte
budget (least recently used first). Only goaldrift writes there; agents never see it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
from pathlib import Path

_MAGIC = b"GDKV2\0"
_HEADER = struct.Struct("<6s16sQQ")  # magic, namespace digest, n tokens, data bytes; then tokens, data


class PrefixCache:
    def __init__(self, folder: Path, namespace: str, budget_mb: int):
        self.folder = folder
        self.namespace = namespace  # model file hash + KV-shaping engine settings
        self._ns = hashlib.sha256(namespace.encode()).digest()[:16]
        self.budget = budget_mb << 20

    def path(self, tokens: list[int]) -> Path:
        h = hashlib.sha256(self.namespace.encode())
        h.update(struct.pack(f"<{len(tokens)}i", *tokens))
        return self.folder / f"{h.hexdigest()[:40]}.kv"

    def _read(self, path: Path, with_data: bool) -> tuple[list[int], bytes | None] | None:
        """A file's tokens (and state data), or ``None`` if it is not a whole file of this namespace."""
        try:
            with path.open("rb") as fh:
                magic, ns, n, size = _HEADER.unpack(fh.read(_HEADER.size))
                if magic != _MAGIC or ns != self._ns:
                    return None
                raw = fh.read(4 * n)
                data = fh.read(size + 1) if with_data else None
        except (OSError, struct.error):
            return None
        if len(raw) != 4 * n or (data is not None and len(data) != size):
            return None
        return list(struct.unpack(f"<{n}i", raw)), data

    def load(self, tokens: list[int]) -> bytes | None:
        """The saved state for exactly ``tokens``, or ``None``."""
        got = self._read(self.path(tokens), with_data=True)
        if got is None or got[0] != tokens:
            self.drop(tokens)
            return None
        with contextlib.suppress(OSError):
            os.utime(self.path(tokens))
        return got[1]

    def longest(self, tokens: list[int], at_least: int) -> tuple[list[int], bytes, int] | None:
        """The saved state sharing the longest prefix (of at least ``at_least`` tokens) with
        ``tokens``: ``(its tokens, its data, shared length)``, or ``None``."""
        best: tuple[Path, int] | None = None
        for path in self.folder.glob("*.kv"):
            got = self._read(path, with_data=False)
            if got is None:
                continue
            shared = common_prefix(got[0], tokens)
            if shared >= at_least and (best is None or shared > best[1]):
                best = (path, shared)
        if best is None:
            return None
        got = self._read(best[0], with_data=True)
        if got is None or got[1] is None:
            return None
        with contextlib.suppress(OSError):
            os.utime(best[0])
        return got[0], got[1], best[1]

    def save(self, tokens: list[int], data: bytes) -> None:
        if len(data) > self.budget:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(tokens)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with tmp.open("wb") as fh:
                fh.write(_HEADER.pack(_MAGIC, self._ns, len(tokens), len(data)))
                fh.write(struct.pack(f"<{len(tokens)}i", *tokens))
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


def common_prefix(a: list[int], b: list[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n
