"""A path goaldrift is told to write (``--store``, ``--out``, ``--report``, ``--dir``) that it cannot use
is bad input: exit code 2 with what to do, before anything is written (for ``run``: before a model
backend, the run log, the lock or a workspace exists), and whatever is at the path is left byte for byte
(another program's database is never given goaldrift's tables; not even SQLite's -shm/-wal files appear)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.core.cli_inprocess import cli


def folder_state(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): p.read_bytes() if p.is_file() else None for p in sorted(root.rglob("*"))}


def sqlite_file(path: Path, *statements: str) -> Path:
    db = sqlite3.connect(path)
    for sql in statements:
        db.execute(sql)
    db.commit()
    db.close()
    return path


def foreign_database(root: Path) -> tuple[Path, str]:
    return sqlite_file(root / "app.db", "CREATE TABLE invoices(id, total)", "INSERT INTO invoices VALUES (1, 9)"), \
        "not a goaldrift store"


def older_schema(root: Path) -> tuple[Path, str]:
    return sqlite_file(root / "old.db", "CREATE TABLE meta(key, value)",
                       "INSERT INTO meta VALUES ('schema_version', '0')"), "schema v0"


def not_a_database(root: Path) -> tuple[Path, str]:
    (root / "notes.db").write_text("my notes\n")
    return root / "notes.db", "not an SQLite database"


def a_folder(root: Path) -> tuple[Path, str]:
    (root / "results").mkdir()
    return root / "results", "is a folder"


def file_in_the_way(root: Path) -> tuple[Path, str]:
    (root / "results").write_text("a file, not a folder\n")
    return root / "results" / "store.db", "is a file, not a folder"


CASES = {f.__name__: f for f in (foreign_database, older_schema, not_a_database, a_folder, file_in_the_way)}


@pytest.fixture
def experiment_file(mini_pack: Path, tmp_path: Path) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump({"name": "paths", "models": [{"id": "c", "backend": "scripted"}],
                                    "scenarios": [str(mini_pack)], "conditions": ["utility"], "steps": 1,
                                    "agent": {"harness": "builtin"}, "completion": False}))
    return path


@pytest.mark.parametrize("case", sorted(CASES))
def test_run_refuses_a_store_it_cannot_use_and_writes_nothing(case, experiment_file, tmp_path, monkeypatch, capsys):
    root = tmp_path / "place"
    root.mkdir()
    store, needle = CASES[case](root)
    before = folder_state(root)
    code, out, err = cli(monkeypatch, capsys, "run", str(experiment_file), "--store", str(store), "--no-progress")
    assert code == 2 and needle in err and "Traceback" not in err, out + err
    assert folder_state(root) == before  # no logs/, no .lock, no workspaces/, the file itself untouched


@pytest.mark.parametrize("command", [["status"], ["results"], ["show"], ["clean", "--dry-run"],
                                     ["judge", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"]])
def test_readers_and_writers_leave_another_program_s_database_alone(command, tmp_path, monkeypatch, capsys):
    store, needle = foreign_database(tmp_path)
    before = store.read_bytes()
    code, out, err = cli(monkeypatch, capsys, command[0], "--store", str(store), *command[1:])
    assert code == 2 and needle in err, out + err
    assert store.read_bytes() == before and sorted(p.name for p in tmp_path.iterdir()) == ["app.db"]


def test_a_store_on_a_read_only_mount_is_refused_before_anything_runs(experiment_file, tmp_path, monkeypatch,
                                                                      capsys):
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(mount)],
                      capture_output=True, check=False).returncode != 0:
        pytest.skip("cannot mount a read-only tmpfs here")
    try:
        code, out, err = cli(monkeypatch, capsys, "run", str(experiment_file), "--store", str(mount / "store.db"),
                             "--no-progress")
    finally:
        subprocess.run(["umount", str(mount)], check=False)
    assert code == 2 and "cannot be written" in err, out + err


def test_a_missing_store_is_bad_input_for_every_reader(tmp_path, monkeypatch, capsys):
    for command in ("status", "results", "show"):
        code, _, err = cli(monkeypatch, capsys, command, "--store", str(tmp_path / "none.db"))
        assert code == 2 and "no results store" in err, (command, err)
    assert list(tmp_path.iterdir()) == []


OUTPUTS = {  # command line (PLACE is the test's folder), what the error must say
    "report into a folder": (["report", "--out", "PLACE/folder"], "is a folder"),
    "report under a file": (["report", "--out", "PLACE/file/report.html"], "is a file, not a folder"),
    "export onto a file": (["export", "--out", "PLACE/file"], "is a file, not a folder"),
    "export under a file": (["export", "--out", "PLACE/file/tables"], "is a file, not a folder"),
    "preview onto a folder": (["scenarios", "preview", "compact-privacy", "-c", "privacy", "--out", "PLACE/folder"],
                              "already exists"),
    "preview under a file": (["scenarios", "preview", "compact-privacy", "-c", "privacy", "--out",
                              "PLACE/file/preview"], "is a file, not a folder"),
    "new pack under a file": (["scenarios", "new", "mypack", "--dir", "PLACE/file"], "is a file, not a folder"),
}


@pytest.mark.parametrize("case", sorted(OUTPUTS))
def test_an_output_path_that_cannot_be_written_is_bad_input_and_nothing_is_written(case, tmp_path, monkeypatch,
                                                                                   capsys):
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "kept.txt").write_text("kept\n")
    (tmp_path / "file").write_text("a file\n")
    before = folder_state(tmp_path)
    args, needle = OUTPUTS[case]
    args = [a.replace("PLACE", str(tmp_path)) for a in args]
    if args[0] in ("report", "export"):  # checked before the store is opened: no store needed
        args += ["--store", str(tmp_path / "none.db")]
    code, out, err = cli(monkeypatch, capsys, *args)
    assert code == 2 and needle in err and "Traceback" not in err, out + err
    assert folder_state(tmp_path) == before


def wal_store(root: Path) -> tuple[Path, str]:
    from goaldrift.store import Store

    Store(root / "store.db").close()  # a store of this version, in WAL mode
    return root / "store.db", ""


def wal_store_of_a_killed_writer(root: Path) -> tuple[Path, str]:
    """The files as a writer killed mid-run leaves them: -wal (holding a change) and -shm beside the store."""
    scratch = root / "scratch"
    scratch.mkdir()
    path, _ = wal_store(scratch)
    writer = sqlite3.connect(path)
    writer.execute("INSERT INTO meta VALUES ('note', 'not checkpointed')")
    writer.commit()
    for name in ("store.db", "store.db-wal", "store.db-shm"):  # copied while the writer still holds them
        shutil.copy(scratch / name, root / name)
    writer.close()
    shutil.rmtree(scratch)
    assert (root / "store.db-wal").stat().st_size
    return root / "store.db", ""


def foreign_wal_database(root: Path) -> tuple[Path, str]:
    return sqlite_file(root / "app.db", "PRAGMA journal_mode=WAL", "CREATE TABLE invoices(id, total)"), \
        "not a goaldrift store"


@pytest.mark.parametrize("case", [wal_store, wal_store_of_a_killed_writer, foreign_wal_database, foreign_database,
                                  older_schema], ids=lambda f: f.__name__)
def test_the_store_check_writes_nothing_beside_the_file(case, tmp_path):
    """A read-only SQLite open of a WAL file creates its -shm/-wal; the check before a run opens none."""
    from goaldrift.errors import UnusableStore
    from goaldrift.store import check_store_path

    store, needle = case(tmp_path)
    before = folder_state(tmp_path)
    if needle:
        with pytest.raises(UnusableStore, match=needle):
            check_store_path(store)
    else:
        check_store_path(store)
    assert folder_state(tmp_path) == before


@pytest.mark.parametrize("command", ["run", "demo"])
def test_a_foreign_store_is_refused_before_any_backend_is_built(command, experiment_file, tmp_path, monkeypatch,
                                                                capsys):
    import goaldrift.runner

    built: list[str] = []

    def spy(spec):
        built.append(spec.id)
        raise RuntimeError("backend built")  # never load a model here

    monkeypatch.setattr(goaldrift.runner, "create_backend", spy)
    store, needle = foreign_database(tmp_path)
    args = [str(experiment_file), "--no-progress"] if command == "run" else []
    code, out, err = cli(monkeypatch, capsys, command, *args, "--store", str(store))
    assert code == 2 and needle in err and built == [], out + err
    if command == "run":  # the spy sees backends being built once the store is usable
        with pytest.raises(RuntimeError, match="backend built"):
            cli(monkeypatch, capsys, command, *args, "--store", str(tmp_path / "new.db"))
        assert built == ["c"]
