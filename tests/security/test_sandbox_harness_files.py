"""Files goaldrift opens that the agent could have touched: OpenCode's database and its logs.

The database must live where OpenCode (and so the agent) can write; goaldrift reads a no-follow,
regular-file-checked, size-capped copy under a time limit. A symlink to a host file, a FIFO, a sparse
terabyte and a database whose ``message`` table became a view counting to 10^12 must neither touch the
host file nor stall the reader. The logs live where the agent cannot write at all: a hostile model
plants symlinks where they used to be and kills its server, and no host file is touched."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from goaldrift.agents.opencode.install import find_opencode
from goaldrift.agents.opencode.trace import DB_RELATIVE, read_db_messages
from goaldrift.sandbox.hostfiles import UnsafeFile

from .conftest import canary, needs_sandbox, run_hostile


@pytest.fixture
def data(tmp_path: Path) -> Path:
    (tmp_path / "xdg-data" / "opencode").mkdir(parents=True)
    return tmp_path / "xdg-data"


@pytest.fixture
def host_file(tmp_path: Path) -> Path:
    path = tmp_path / "host-secret.txt"
    path.write_text("host content\n")
    return path


def _real_db(path: Path) -> None:
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE message (id TEXT, session_id TEXT, time_created INT, data TEXT);"
                      "CREATE TABLE part (id TEXT, message_id TEXT, session_id TEXT, data TEXT);"
                      "INSERT INTO message VALUES ('m1', 's', 1, '{\"role\": \"assistant\"}');"
                      "INSERT INTO part VALUES ('p1', 'm1', 's', '{\"type\": \"text\", \"text\": \"hi\"}');")
    con.close()


def test_a_plain_database_is_read(data):
    _real_db(data / DB_RELATIVE)
    messages = read_db_messages(data, "s")
    assert messages[0]["info"]["role"] == "assistant" and messages[0]["parts"][0]["text"] == "hi"
    assert read_db_messages(data, "no-such-session") == []


def test_a_symlinked_database_or_folder_is_refused(data, host_file, tmp_path):
    _real_db(tmp_path / "elsewhere.db")
    (data / DB_RELATIVE).symlink_to(tmp_path / "elsewhere.db")
    with pytest.raises(UnsafeFile, match="without following links"):
        read_db_messages(data, "s")
    (data / DB_RELATIVE).unlink()
    (data / "opencode").rmdir()
    (tmp_path / "elsewhere").mkdir()
    _real_db(tmp_path / "elsewhere" / "opencode.db")
    (data / "opencode").symlink_to(tmp_path / "elsewhere")  # a directory on the way
    with pytest.raises(UnsafeFile):
        read_db_messages(data, "s")
    # A WAL symlinked to a host file is refused too, and the host file is untouched.
    (data / "opencode").unlink()
    (data / "opencode").mkdir()
    _real_db(data / DB_RELATIVE)
    Path(f"{data / DB_RELATIVE}-wal").symlink_to(host_file)
    with pytest.raises(UnsafeFile):
        read_db_messages(data, "s")
    assert host_file.read_text() == "host content\n"


def test_a_fifo_does_not_block(data):
    os.mkfifo(data / DB_RELATIVE)  # opening it for reading would wait for a writer forever
    with pytest.raises(UnsafeFile, match="not a regular file"):
        read_db_messages(data, "s")


def test_a_sparse_terabyte_is_not_read(data):
    with open(data / DB_RELATIVE, "wb") as f:
        f.truncate(1 << 40)
    with pytest.raises(UnsafeFile, match="more than"):
        read_db_messages(data, "s")


def test_an_endless_view_is_cut_by_the_time_limit(data):
    con = sqlite3.connect(data / DB_RELATIVE)
    con.executescript(
        "CREATE TABLE part (id TEXT, message_id TEXT, session_id TEXT, data TEXT);"
        "CREATE VIEW message AS WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c "
        "WHERE n < 1000000000000) SELECT 'm' AS id, 's' AS session_id, n AS time_created, '{}' AS data FROM c;")
    con.close()
    with pytest.raises(UnsafeFile, match="within 1 s"):
        read_db_messages(data, "s", time_limit_s=1)


@needs_sandbox
@pytest.mark.opencode
@pytest.mark.skipif(find_opencode() is None, reason="OpenCode is not installed")
def test_planted_log_symlinks_and_a_killed_server_touch_no_host_file(tmp_path, mini_pack, hostile,
                                                                      host_file, monkeypatch):
    """The agent plants symlinks and FIFOs to a host file wherever a log could be (the old log
    folder, its own state folders) and kills its server; goaldrift restarts it and writes its log
    in its own folder. The host file is untouched, every step is recorded."""
    monkeypatch.setenv("GD_TEST_UPSTREAM_KEY", canary())
    plant = " ".join(f"ln -sf {host_file} $d/serve-{i}.log; mkfifo $d/run-{i}.log;" for i in range(1, 5))
    model = hostile([
        (f"for d in $XDG_DATA_HOME/.. $XDG_DATA_HOME/../logs $XDG_STATE_HOME $TMPDIR; do mkdir -p $d; {plant} done; "
         "ls -la $XDG_DATA_HOME/..; echo planted"),
        "kill -9 $(pgrep -f 'opencode serve') ; echo killed",
    ])
    summary, _ = run_hostile(tmp_path, mini_pack, "opencode", model, key_env="GD_TEST_UPSTREAM_KEY", steps=2)
    assert summary.failed == 0
    assert "planted" in model.outputs()[0]
    assert host_file.read_text() == "host content\n"
    logs = list((tmp_path / "results").rglob("opencode-host/logs/serve-*.log"))
    assert len(logs) >= 2, logs  # the server was restarted: a second log, in goaldrift's own folder
    assert all(p.is_file() and not p.is_symlink() for p in logs)
