import json

from analytics.cli import main


def test_init_db(tmp_path, capsys):
    path = tmp_path / "x.db"
    assert main(["--db", str(path), "init-db"]) == 0
    assert "60 customers" in capsys.readouterr().out


def test_report(db_file, capsys):
    assert main(["--db", str(db_file), "report", "revenue"]) == 0
    assert json.loads(capsys.readouterr().out)["window_days"] == 30


def test_list_and_run_exports(db_file, tmp_path, capsys):
    assert main(["--db", str(db_file), "exports"]) == 0
    assert "plan_mix" in capsys.readouterr().out
    out = tmp_path / "plan_mix.csv"
    assert main(["--db", str(db_file), "export", "plan_mix", "-o", str(out)]) == 0
    assert out.read_text().startswith("plan,status,customers,mrr_cents")
    assert main(["--db", str(db_file), "export", "nope"]) == 2
