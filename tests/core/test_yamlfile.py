"""One reader for every YAML file goaldrift is handed (``goaldrift.yamlfile``): what it refuses and
what it still reads."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from goaldrift.yamlfile import YamlProblem, load_file, parse


def test_a_duplicate_key_is_refused_with_its_lines():
    with pytest.raises(YamlProblem, match=r"duplicate key 'steps' \(first given on line 2\).*line 4"):
        parse("name: x\nsteps: 1\nrepeats: 2\nsteps: 3\n")


def test_a_duplicate_key_deep_inside_is_refused():
    with pytest.raises(YamlProblem, match="duplicate key 'policy'"):
        parse("models:\n  - id: a\n    policy: comply\n    policy: violate_from:1\n")


def test_merge_keys_still_override_what_they_merge():
    data = parse("base: &b {a: 1, b: 2}\nuse:\n  <<: *b\n  b: 3\n")
    assert data["use"] == {"a": 1, "b": 3}


def test_an_alias_bomb_is_refused_without_expanding_it():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 10)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    with pytest.raises(YamlProblem, match="alias bomb"):
        parse(bomb)


def test_bytes_that_are_not_utf8_and_deep_nesting_are_problems_not_tracebacks():
    with pytest.raises(YamlProblem, match="not UTF-8"):
        parse(b"name: caf\xe9\n")
    with pytest.raises(YamlProblem, match="nested too deeply"):
        parse("a: " + "[" * 20_000 + "]" * 20_000)
    with pytest.raises(YamlProblem, match="not valid YAML.*position 7"):
        parse("name: x\x00\n")


def test_only_a_bounded_regular_file_is_read(tmp_path: Path):
    fifo = tmp_path / "exp.yaml"
    os.mkfifo(fifo)  # reading it would block for ever
    with pytest.raises(YamlProblem, match="not a regular file"):
        load_file(fifo)
    with pytest.raises(YamlProblem, match="not a regular file"):
        load_file(Path("/dev/zero"))  # reading it would never end
    with pytest.raises(YamlProblem, match="a folder, not a file"):
        load_file(tmp_path)
    big = tmp_path / "big.yaml"
    big.write_text("a: " + "x" * 2000)
    with pytest.raises(YamlProblem, match="more than the 1000-byte limit"):
        load_file(big, max_bytes=1000)
    with pytest.raises(FileNotFoundError):
        load_file(tmp_path / "absent.yaml")
