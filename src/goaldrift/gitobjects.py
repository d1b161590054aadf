"""Writing git objects ourselves: blobs, trees and commits as loose objects in a bare git directory.

goaldrift snapshots a workspace the agent controls. Letting ``git add`` read that workspace means git
reads it as configuration too (a nested repository's ``.git/config`` filters, ``.gitattributes``,
gitlinks). Instead goaldrift reads the files itself (``goaldrift.filetree``) and writes the objects
here; git only ever sees objects and its own bare directory. The formats are git's stable on-disk
formats (``<type> <size>\\0<body>``, zlib-compressed, named by SHA-1), so any git reads the result.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import zlib
from pathlib import Path

FILE, EXECUTABLE, SYMLINK, TREE = "100644", "100755", "120000", "40000"
_CONFIG = "[core]\n\trepositoryformatversion = 0\n\tfilemode = true\n\tbare = true\n"


def object_id(kind: str, body: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(body)}\0".encode() + body).hexdigest()


class GitObjects:
    """The object database and ``main`` branch of one bare git directory."""

    def __init__(self, git_dir: Path):
        self.git_dir = git_dir
        self._objects = git_dir / "objects"
        self._ref = git_dir / "refs" / "heads" / "main"
        # What this instance wrote or saw: saves a stat (or a mkdir) per object on every snapshot.
        self._known: set[str] = set()
        self._fanout: set[str] = set()
        self._head: str | None = None

    @classmethod
    def init(cls, git_dir: Path, attributes: str) -> GitObjects:
        """Lay out a bare repository whose HEAD is ``main``; ``attributes`` go to ``info/attributes``."""
        for sub in ("objects", "refs/heads", "refs/tags", "info"):
            (git_dir / sub).mkdir(parents=True, exist_ok=True)
        (git_dir / "HEAD").write_text("ref: refs/heads/main\n")
        (git_dir / "config").write_text(_CONFIG)
        (git_dir / "info" / "attributes").write_text(attributes)
        return cls(git_dir)

    def write(self, kind: str, body: bytes) -> str:
        sha = object_id(kind, body)
        if sha in self._known:
            return sha
        path = self._objects / sha[:2] / sha[2:]
        if not path.exists():
            # Written in place, not renamed: only goaldrift writes here, and a workspace whose runner
            # died mid-write is never resumed (a rerun starts a fresh attempt).
            if sha[:2] not in self._fanout:
                path.parent.mkdir(exist_ok=True)
                self._fanout.add(sha[:2])
            with contextlib.suppress(FileExistsError), open(path, "xb") as f:
                f.write(zlib.compress(f"{kind} {len(body)}\0".encode() + body, 1))
        self._known.add(sha)
        return sha

    def read(self, sha: str) -> tuple[str, bytes]:
        """(type, body) of an object goaldrift wrote."""
        raw = zlib.decompress((self._objects / sha[:2] / sha[2:]).read_bytes())
        header, _, body = raw.partition(b"\0")
        return header.split(b" ")[0].decode(), body

    def abbrev(self, sha: str, minimum: int = 7) -> str:
        """The shortest prefix of ``sha`` (at least ``minimum`` characters) no other object shares, as
        git prints ids on a diff's ``index`` lines."""
        try:
            others = [n for n in os.listdir(self._objects / sha[:2]) if n != sha[2:]]
        except FileNotFoundError:
            others = []
        length = minimum
        while any(n.startswith(sha[2:length]) for n in others):
            length += 1
        return sha[:length]

    def tree(self, entries: dict[bytes, tuple[str, str]]) -> str:
        """A tree from ``name -> (mode, object id)``, in git's order (a folder sorts as ``name/``)."""
        def key(name: bytes) -> bytes:
            return name + b"/" if entries[name][0] == TREE else name

        body = b"".join(f"{entries[n][0]} ".encode() + n + b"\0" + bytes.fromhex(entries[n][1])
                        for n in sorted(entries, key=key))
        return self.write("tree", body)

    def commit(self, tree: str, parent: str | None, message: str, when: int) -> str:
        who = f"goaldrift <goaldrift@localhost> {when} +0000"
        lines = [f"tree {tree}", *([f"parent {parent}"] if parent else []), f"author {who}",
                 f"committer {who}"]
        return self.write("commit", ("\n".join(lines) + "\n\n" + message + "\n").encode())

    def read_tree(self, tree: str) -> dict:
        """A tree goaldrift wrote, as nested dicts of name -> dict (folder) | (mode, object id)."""
        body, out, i = self.read(tree)[1], {}, 0
        while i < len(body):
            space, nul = body.index(b" ", i), body.index(b"\0", i)
            mode, name = body[i:space].decode(), body[space + 1 : nul].decode("utf-8", "surrogateescape")
            sha = body[nul + 1 : nul + 21].hex()
            out[name] = self.read_tree(sha) if mode == TREE else (mode, sha)
            i = nul + 21
        return out

    def commit_tree(self, commit: str) -> str:
        """The tree id of a commit."""
        return self.read(commit)[1].split(b"\n", 1)[0].split(b" ")[1].decode()

    def head(self) -> str | None:
        if self._head is None and self._ref.exists():
            self._head = self._ref.read_text().strip()
        return self._head

    def set_head(self, commit: str) -> None:
        tmp = self._ref.with_name("main.lock")
        tmp.write_text(commit + "\n")
        os.replace(tmp, self._ref)
        self._head = commit
