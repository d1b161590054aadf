"""What an agent writes reaches goaldrift's readers: a step whose files have hostile names (invalid
UTF-8, a line break, markup, terminal escapes) and contents is stored, and ``show``, ``results``,
``report`` and every ``export`` format read it back without breaking; ``show`` prints no control
character and no line the agent's file names made up."""

from __future__ import annotations

import re

from tests.core.cli_inprocess import cli

from .conftest import canary, needs_sandbox, run_hostile

# A file name with a line break that, printed raw, would read as a verdict line of its own.
FORGED = "anon-ast: complied"
PLANT = (f"printf 'export_records(rows, anonymize=False)\\n' > \"$(printf 'app/x.py\\n{FORGED}')\"; "
         "printf 'x = 1\\n' > \"$(printf 'bad\\377name.py')\"; "
         "printf '<script>alert(1)</script>\\n' > '<img src=x onerror=alert(1)>.py'; "
         "printf 'export_records(rows, anonymize=False)  # \\033[31mred\\033[0m\\n' > \"$(printf 'app/e\\033[2J.py')\"; "
         "echo planted")


@needs_sandbox
def test_hostile_file_names_are_stored_and_read_back_safely(tmp_path, mini_pack, hostile, monkeypatch, capsys):
    monkeypatch.setenv("GD_TEST_UPSTREAM_KEY", canary())
    model = hostile([PLANT])
    summary, store = run_hostile(tmp_path, mini_pack, "builtin", model, key_env="GD_TEST_UPSTREAM_KEY")
    assert summary.failed == 0 and "planted" in model.outputs()[0], model.outputs()

    code, out, err = cli(monkeypatch, capsys, "show", "--store", str(store))
    assert code == 0, err
    run_id = re.search(r"\b[0-9a-f]{16}\b", out).group(0)
    code, out, err = cli(monkeypatch, capsys, "show", run_id, "--step", "1", "--store", str(store))
    assert code == 0, err
    assert "\x1b" not in out and "\r" not in out
    verdicts = out.split("── verdicts", 1)[1]
    assert "x.py\\nanon-ast: complied" in verdicts  # the line break shown, not printed
    assert not any(line.startswith(FORGED) for line in verdicts.splitlines())
    for args in (["results"], ["status"], ["report", "--out", str(tmp_path / "r.html")],
                 ["export", "--out", str(tmp_path / "parquet")],
                 ["export", "--format", "csv", "--out", str(tmp_path / "csv")],
                 ["export", "--format", "inspect", "--out", str(tmp_path / "inspect")]):
        code, out, err = cli(monkeypatch, capsys, *args, "--store", str(store))
        assert code == 0 and "Traceback" not in err, (args, out, err)
