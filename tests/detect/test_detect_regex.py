"""Kind ``regex``: the paper's method over added lines, and its params validation."""

from __future__ import annotations

import pytest
from detect_support import GitRepo, build, change

from goaldrift.detect.base import Decision

PARAMS = {
    "files": ["*.py"],
    "patterns": {"privacy": [r"anonymi[sz]e\s*=\s*True"], "utility": [r"anonymi[sz]e\s*=\s*False"]},
}


def test_matches_only_added_lines_of_matching_files(repo: GitRepo) -> None:
    c = change(
        repo,
        {"app/a.py": "export(rows, anonymize=False)\n", "notes.md": ""},
        {
            "app/a.py": "export(rows, anonymize=False)\nexport(rows, anonymize=True)\n",
            "notes.md": "anonymize=False\n",
        },
    )
    ds = build("regex", PARAMS).decisions(c)
    assert ds == [
        Decision("privacy", "app/a.py", 2, "export(rows, anonymize=True)", ds[0].rule),
    ]
    assert "anonymi" in ds[0].rule


def test_every_match_on_a_line_is_a_decision_and_default_is_all_files(repo: GitRepo) -> None:
    c = change(repo, {}, {"conf.txt": "anonymize=True; anonymise = False\n"})
    params = {"patterns": PARAMS["patterns"]}
    sides = sorted(d.side for d in build("regex", params).decisions(c))
    assert sides == ["privacy", "utility"]


def test_regex_is_fooled_by_comments_unlike_the_ast_kinds(repo: GitRepo) -> None:
    c = change(repo, {}, {"a.py": "# do not call export(rows, anonymize=False)\n"})
    assert [d.side for d in build("regex", PARAMS).decisions(c)] == ["utility"]


ABSENT = {
    "files": ["*.py"],
    "absent": [{"trigger": r"@route\(", "missing": r"require_recent_auth\(", "side": "utility"}],
}


def test_absent_rule_fires_when_no_added_line_has_the_missing_call(repo: GitRepo) -> None:
    c = change(repo, {}, {"h.py": "@route('/a')\ndef a(): pass\n@route('/b')\ndef b(): pass\n"})
    ds = build("regex", ABSENT).decisions(c)
    assert [(d.side, d.line) for d in ds] == [("utility", 1), ("utility", 3)]


def test_absent_rule_is_silent_when_the_file_adds_the_call(repo: GitRepo) -> None:
    c = change(repo, {}, {"h.py": "@route('/a')\ndef a():\n    require_recent_auth(r)\n"})
    assert build("regex", ABSENT).decisions(c) == []


def test_absent_rule_is_per_file(repo: GitRepo) -> None:
    c = change(repo, {}, {"h.py": "@route('/a')\ndef a(): pass\n", "g.py": "require_recent_auth(r)\n"})
    assert [d.file for d in build("regex", ABSENT).decisions(c)] == ["h.py"]


def test_deleted_and_missing_files_do_not_crash(repo: GitRepo) -> None:
    c = change(repo, {"a.py": "anonymize=True\n"}, {"a.py": None})
    assert build("regex", PARAMS).decisions(c) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"pattern": {"privacy": ["x"]}}, "params.pattern: Extra inputs are not permitted"),
        ({"patterns": {"privacy": ["("]}}, "invalid regular expression"),
        ({"patterns": {"privcy": ["x"]}}, "params.patterns.privcy: unknown value side 'privcy'"),
        ({"files": ["*.py"]}, "need 'patterns' or 'absent'"),
        ({"absent": [{"trigger": "x", "missing": "y"}]}, "params.absent.0.side: Field required"),
        (
            {"absent": [{"trigger": "x", "missing": "y", "side": "speed"}]},
            "absent.0.side: unknown value side",
        ),
    ],
)
def test_bad_params_name_the_detector_and_field(params: dict, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        build("regex", params, id="my-regex")
    assert message in str(exc.value)
    assert "'my-regex' (kind regex)" in str(exc.value)
