"""The diff parser against real git output and the awkward corners of the unified format."""

from __future__ import annotations

import contextlib
import difflib
import os
import threading
from pathlib import Path

from detect_support import GitRepo

from goaldrift.detect.base import StepChange
from goaldrift.detect.diff import LineSet, change_from_diff, parse_diff, pre_image, unquote_path


def test_real_git_modified_new_deleted_binary_and_odd_paths(repo: GitRepo) -> None:
    repo.step(
        {
            "my file.py": "a\nb\nc\n",
            "gone.py": "x\ny\n",
            "nonl.txt": "x",
            "bin.dat": b"\x00\x01",
            "café.py": "q\n",
            "ta\tb.py": "q\n",
            "mode.sh": "echo\n",
        }
    )
    repo.write(
        {
            "my file.py": "a\nB\nc\nd\n",
            "gone.py": None,
            "nonl.txt": "y",
            "bin.dat": b"\x00\x02",
            "new.py": "one\ntwo\n",
            "newbin.bin": b"\x00",
            "café.py": "q\nw\n",
            "ta\tb.py": "q\nz\n",
            "empty.py": "",
        }
    )
    (repo.root / "mode.sh").chmod(0o755)
    change = repo.step({})

    assert change.added == {
        "my file.py": frozenset({2, 4}),
        "nonl.txt": frozenset({1}),
        "bin.dat": frozenset(),
        "new.py": frozenset({1, 2}),
        "newbin.bin": frozenset(),
        "café.py": frozenset({2}),
        "ta\tb.py": frozenset({2}),
        "empty.py": frozenset(),
        "mode.sh": frozenset(),
    }
    assert change.removed == {"my file.py": ("b",), "gone.py": ("x", "y"), "nonl.txt": ("x",)}
    assert change.repo == repo.root
    assert change.read("my file.py") == "a\nB\nc\nd\n"


def test_lines_that_look_like_file_headers_inside_a_hunk(repo: GitRepo) -> None:
    # A removed "-- sql" line is printed as "--- sql", an added "++ x" as "+++ x".
    change = repo.step({"q.sql": "select 1;\n-- old comment\n"})
    change = repo.step({"q.sql": "select 1;\n++ x\n"})
    assert "--- old comment" in change.diff and "+++ x" in change.diff
    assert change.added == {"q.sql": frozenset({2})}
    assert change.removed == {"q.sql": ("-- old comment",)}


def test_multiple_hunks_and_line_numbers_after_removals(repo: GitRepo) -> None:
    before = "".join(f"line {i}\n" for i in range(1, 41))
    after = before.replace("line 3\n", "").replace("line 30\n", "LINE 30\nextra\n")
    repo.step({"f.txt": before})
    change = repo.step({"f.txt": after})
    lines = after.split("\n")
    added = sorted(change.added["f.txt"])
    assert [lines[n - 1] for n in added] == ["LINE 30", "extra"]
    assert change.removed["f.txt"] == ("line 3", "line 30")


def test_pre_image_is_rebuilt_exactly_from_real_git_diff(repo: GitRepo) -> None:
    before = "".join(f"def f{i}():\n    return {i}\n\n" for i in range(30))
    after = before.replace("return 3\n", "return 33\n").replace("def f20():\n    return 20\n\n", "")
    after += "def tail():\n    pass"  # and no newline at end of file
    repo.step({"m.py": before})
    change = repo.step({"m.py": after})
    (patch,) = parse_diff(change.diff)
    assert pre_image(after, patch) == before
    assert pre_image(after.replace("return 33", "return 34"), patch) is None  # diff does not fit


def test_pre_image_of_new_and_deleted_files(repo: GitRepo) -> None:
    repo.step({"old.py": "x = 1\n"})
    change = repo.step({"old.py": None, "new.py": "y = 2\n"})
    patches = {p.path: p for p in parse_diff(change.diff)}
    assert patches["old.py"].deleted and pre_image("", patches["old.py"]) is None
    assert patches["new.py"].old_path is None and pre_image("y = 2\n", patches["new.py"]) == ""


def test_hunk_header_without_counts_and_no_newline_markers() -> None:
    diff = (
        "diff --git a/x.txt b/x.txt\n"
        "index 1..2 100644\n"
        "--- a/x.txt\n"
        "+++ b/x.txt\n"
        "@@ -1 +1 @@\n"
        "-old\n"
        "\\ No newline at end of file\n"
        "+new\n"
        "\\ No newline at end of file\n"
        "diff --git a/y.txt b/y.txt\n"
        "--- a/y.txt\n"
        "+++ b/y.txt\n"
        "@@ -5,0 +6,2 @@ def context():\n"
        "+a\n"
        "+b\n"
    )
    change = change_from_diff(Path("/nowhere"), diff)
    assert change.added == {"x.txt": frozenset({1}), "y.txt": frozenset({6, 7})}
    assert change.removed == {"x.txt": ("old",)}


def test_plain_unified_diff_without_git_headers() -> None:
    a = ["keep\n", "drop\n", "keep2\n"]
    b = ["keep\n", "add\n", "keep2\n", "more\n"]
    diff = "".join(difflib.unified_diff(a, b, "a/one.py", "b/one.py"))
    diff += "".join(difflib.unified_diff(["x\n"], ["y\n"], "a/two.py", "b/two.py"))
    change = change_from_diff(Path("."), diff)
    assert change.added == {"one.py": frozenset({2, 4}), "two.py": frozenset({1})}
    assert change.removed == {"one.py": ("drop",), "two.py": ("x",)}


def test_crlf_diff_text_and_empty_context_lines() -> None:
    diff = "--- a/w.txt\r\n+++ b/w.txt\r\n@@ -1,3 +1,3 @@\r\n a\r\n\r\n-b\r\n+c\r\n"
    change = change_from_diff(Path("."), diff)
    assert change.added == {"w.txt": frozenset({3})}
    assert change.removed == {"w.txt": ("b",)}


def test_empty_diff_and_header_only_sections() -> None:
    assert change_from_diff(Path("."), "").added == {}
    diff = "diff --git a/dir with space/f.py b/dir with space/f.py\nold mode 100644\nnew mode 100755\n"
    assert change_from_diff(Path("."), diff).added == {"dir with space/f.py": frozenset()}


def test_binary_deleted_file_appears_only_in_removed() -> None:
    diff = (
        "diff --git a/img.png b/img.png\n"
        "deleted file mode 100644\n"
        "index 1..0\n"
        "Binary files a/img.png and /dev/null differ\n"
    )
    change = change_from_diff(Path("."), diff)
    assert change.added == {}
    assert change.removed == {"img.png": ()}


def test_unquote_path() -> None:
    assert unquote_path('"caf\\303\\251.py"') == "café.py"
    assert unquote_path('"a\\tb\\\\c\\"d.py"') == 'a\tb\\c"d.py'
    assert unquote_path("plain name.py") == "plain name.py"


def test_line_set_touches() -> None:
    s = LineSet(frozenset({3, 10}))
    assert s.touches(1, 3) and s.touches(10) and s.touches(4, 12)
    assert not s.touches(4, 9) and not s.touches(11, 50) and not s.touches(1, 2)
    assert 3 in s and 4 not in s and not LineSet(frozenset())


def test_read_gives_regular_files_up_to_5_mb_decoded_leniently_and_nothing_else(tmp_path: Path) -> None:
    (tmp_path / "limit.txt").write_bytes(b"x" * 5_000_000)
    (tmp_path / "over.txt").write_bytes(b"x" * 5_000_001)
    (tmp_path / "bad.py").write_bytes(b"name = '\xff\xfe'\n")
    (tmp_path / "dir.py").mkdir()
    (tmp_path / "link.py").symlink_to(tmp_path / "bad.py")
    change = StepChange(tmp_path, "", {})
    assert change.read("limit.txt") == "x" * 5_000_000
    assert change.read("over.txt") is None  # an agent's huge file never reaches the detectors
    assert change.read("bad.py") == "name = '\ufffd\ufffd'\n"  # undecodable bytes never crash a detector
    assert change.read("dir.py") is None and change.read("missing.py") is None
    assert change.read("link.py") is None  # a symlink is never followed, even to a file inside


def test_read_never_opens_a_fifo(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.py")

    def feed() -> None:  # would hand text to a reader that opened the FIFO
        with contextlib.suppress(OSError), open(tmp_path / "pipe.py", "w") as f:
            f.write("x = 1\n")

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    try:
        assert StepChange(tmp_path, "", {}).read("pipe.py") is None
    finally:
        os.close(os.open(tmp_path / "pipe.py", os.O_RDONLY | os.O_NONBLOCK))  # releases the feeder
        feeder.join(10)
