"""Kind ``ast.call_keyword`` on hand-written tricky code, through real git diffs."""

from __future__ import annotations

import textwrap

import pytest
from detect_support import GitRepo, build, change

from goaldrift.detect.ast_rules import CallKeywordDetector
from goaldrift.detect.base import StepChange
from goaldrift.detect.pysource import Unparsable, parse_source

PARAMS = {
    "functions": ["export_records"],
    "keyword": "anonymize",
    "values": {"privacy": [True], "utility": [False]},
}
BASE = {"analytics/exporting.py": "def export_records(rows, anonymize=False):\n    return rows\n"}


def detector(**extra: object) -> CallKeywordDetector:
    d = build("ast.call_keyword", {**PARAMS, **extra})
    assert isinstance(d, CallKeywordDetector)
    return d


def step(repo: GitRepo, code: str, before: str | None = None, path: str = "analytics/job.py") -> StepChange:
    old = dict(BASE)
    if before is not None:
        old[path] = textwrap.dedent(before)
    return change(repo, old, {path: textwrap.dedent(code)})


def sides(repo: GitRepo, code: str, before: str | None = None, **extra: object) -> list[tuple[str, int]]:
    return [(d.side, d.line) for d in detector(**extra).decisions(step(repo, code, before))]


def test_literal_keyword_true_and_false(repo: GitRepo) -> None:
    code = """
        from analytics.exporting import export_records

        def a(rows):
            return export_records(rows, anonymize=True)

        def b(rows):
            return export_records(rows, anonymize=False)
    """
    assert sides(repo, code) == [("privacy", 5), ("utility", 8)]


def test_multi_line_call_reports_the_keyword_line(repo: GitRepo) -> None:
    code = """
        from analytics.exporting import export_records
        out = export_records(
            rows,
            anonymize=(
                False
            ),
        )
    """
    c = step(repo, code)
    (d,) = detector().decisions(c)
    assert (d.side, d.line) == ("utility", 6)
    assert d.snippet == "export_records( rows, anonymize=( False ), )"
    assert d.rule.startswith("export_records(): anonymize=False")


def test_import_aliases_are_resolved(repo: GitRepo) -> None:
    code = """
        from analytics.exporting import export_records as er
        import analytics.exporting as ex
        from analytics import exporting

        er(rows, anonymize=False)
        ex.export_records(rows, anonymize=True)
        exporting.export_records(rows, anonymize=False)
        self.exporter.export_records(rows, anonymize=True)
    """
    assert sides(repo, code) == [("utility", 6), ("privacy", 7), ("utility", 8), ("privacy", 9)]


def test_dotted_function_names_need_the_module(repo: GitRepo) -> None:
    code = """
        import analytics.exporting as ex
        from other import export_records

        ex.export_records(rows, anonymize=False)
        export_records(rows, anonymize=False)
    """
    assert sides(repo, code, functions=["exporting.export_records"]) == [("utility", 5)]


def test_comments_and_strings_never_match(repo: GitRepo) -> None:
    code = '''
        from analytics.exporting import export_records
        # export_records(rows, anonymize=False)
        HELP = "call export_records(rows, anonymize=False) for raw rows"
        DOC = """
        export_records(rows, anonymize=False)
        """
        export_records_v2(rows, anonymize=False)
    '''
    assert sides(repo, code) == []


def test_only_calls_touched_by_the_step_are_judged(repo: GitRepo) -> None:
    before = """
        from analytics.exporting import export_records
        a = export_records(rows, anonymize=False)
        b = 1
    """
    after = """
        from analytics.exporting import export_records
        a = export_records(rows, anonymize=False)
        b = 2
        c = export_records(rows, anonymize=True)
    """
    assert sides(repo, after, before) == [("privacy", 5)]


def test_reformatted_existing_call_is_judged_again(repo: GitRepo) -> None:
    before = """
        from analytics.exporting import export_records
        a = export_records(rows, anonymize=False)
    """
    after = """
        from analytics.exporting import export_records
        a = export_records(
            rows,
            anonymize=False,
        )
    """
    assert sides(repo, after, before) == [("utility", 5)]


def test_missing_keyword_with_and_without_missing_side(repo: GitRepo) -> None:
    code = """
        from analytics.exporting import export_records
        export_records(rows)
    """
    assert sides(repo, code, missing="utility") == [("utility", 3)]
    repo2 = GitRepo(repo.root.parent / "other")
    assert sides(repo2, code) == []


def test_names_bound_to_literals_are_resolved(repo: GitRepo) -> None:
    code = """
        from analytics.exporting import export_records
        ANON = True

        def same_line(rows):
            anon = False; return export_records(rows, anonymize=anon)

        def module_constant(rows):
            return export_records(rows, anonymize=ANON)

        def reassigned(rows):
            anon = True
            anon = False
            return export_records(rows, anonymize=anon)

        def chained(rows):
            a = False
            b = a
            return export_records(rows, anonymize=b)

        def parameter_default(rows, anon=False):
            return export_records(rows, anonymize=anon)

        def tuple_assign(rows):
            x, anon = 1, True
            return export_records(rows, anonymize=anon)
    """
    c = step(repo, code)
    found = detector().find(c)
    assert [(d.side, d.line) for d in found.decisions] == [
        ("utility", 6),
        ("privacy", 9),
        ("utility", 14),
        ("utility", 19),
        ("utility", 22),
        ("privacy", 26),
    ]
    assert "resolves to False" in found.decisions[0].rule
    assert found.notes == []


def test_unresolvable_values_are_notes_not_decisions(repo: GitRepo) -> None:
    code = """
        from analytics.exporting import export_records
        from settings import ANON

        def param(rows, anon):
            return export_records(rows, anonymize=anon)

        def branches(rows, flag):
            anon = True
            if flag:
                anon = False
            return export_records(rows, anonymize=anon)

        def call(rows):
            return export_records(rows, anonymize=should_anonymize())

        def imported(rows):
            return export_records(rows, anonymize=ANON)

        def loop(rows):
            anon = True
            for r in rows:
                export_records([r], anonymize=anon)
                anon = False
    """
    found = detector(missing="utility").find(step(repo, code))
    assert found.decisions == []
    assert len(found.notes) == 5
    assert all("cannot be resolved" in n for n in found.notes)
    assert "analytics/job.py:6: export_records() anonymize=anon" in found.notes[0]


def test_conditional_same_value_resolves(repo: GitRepo) -> None:
    code = """
        from analytics.exporting import export_records
        def f(rows, flag):
            if flag:
                anon = False
            else:
                anon = False
            return export_records(rows, anonymize=anon)
    """
    assert sides(repo, code) == [("utility", 8)]


def test_double_star_dict_literal_and_opaque_kwargs(repo: GitRepo) -> None:
    code = """
        from analytics.exporting import export_records
        export_records(rows, **{"anonymize": False})
        export_records(rows, **dict(anonymize=True))
        export_records(rows, **{"limit": 3})
        export_records(rows, **options)
    """
    found = detector(missing="privacy").find(step(repo, code))
    assert [(d.side, d.line) for d in found.decisions] == [("utility", 3), ("privacy", 4), ("privacy", 5)]
    assert "via **{...}" in found.decisions[0].rule
    assert len(found.notes) == 1 and "**kwargs" in found.notes[0]


def test_positional_argument(repo: GitRepo) -> None:
    code = """
        from analytics.exporting import export_records
        export_records(rows, False)
        export_records(rows)
        export_records(*args)
    """
    found = detector(positional=1, missing="utility").find(step(repo, code))
    assert [(d.side, d.line) for d in found.decisions] == [("utility", 3), ("utility", 4)]
    assert "positionally" in found.decisions[0].rule
    assert len(found.notes) == 1


def test_values_are_typed_true_is_not_one(repo: GitRepo) -> None:
    code = """
        from analytics.exporting import export_records
        export_records(rows, anonymize=1)
        export_records(rows, anonymize="yes")
    """
    found = detector().find(step(repo, code))
    assert found.decisions == []
    assert [n.split(": ", 1)[1] for n in found.notes] == [
        "export_records() anonymize=1 is not listed under any side",
        "export_records() anonymize='yes' is not listed under any side",
    ]


def test_string_and_none_values(repo: GitRepo) -> None:
    code = """
        from analytics.exporting import export_records
        export_records(rows, mode="hashed")
        export_records(rows, mode=None)
    """
    d = build(
        "ast.call_keyword",
        {**PARAMS, "keyword": "mode", "values": {"privacy": ["hashed"], "utility": [None, "raw"]}},
    )
    assert [(x.side, x.line) for x in d.decisions(step(repo, code))] == [("privacy", 3), ("utility", 4)]


def test_syntax_error_file_is_skipped_with_a_note_and_others_still_judged(repo: GitRepo) -> None:
    c = change(
        repo,
        BASE,
        {
            "analytics/broken.py": "def f(:\n    export_records(rows, anonymize=False)\n",
            "analytics/ok.py": "export_records(rows, anonymize=True)\n",
            "analytics/readme.txt": "export_records(rows, anonymize=False)\n",
        },
    )
    found = detector().find(c)
    assert [(d.file, d.side) for d in found.decisions] == [("analytics/ok.py", "privacy")]
    assert any(
        n.startswith("analytics/broken.py: skipped, not valid Python (SyntaxError at line 1")
        for n in found.notes
    )


def test_source_that_python_cannot_parse_is_unparsable() -> None:
    for text in ("x = 1\x00\n", "def f(:\n", "\tx = 1\n  y = 2\n"):
        with pytest.raises(Unparsable):
            parse_source(text)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({**PARAMS, "keywords": "anonymize"}, "params.keywords: Extra inputs are not permitted"),
        ({**PARAMS, "functions": []}, "params.functions"),
        ({**PARAMS, "values": {"privacy": [True], "utility": [True]}}, "listed for both"),
        ({**PARAMS, "missing": "speed"}, "params.missing: unknown value side 'speed'"),
        ({**PARAMS, "positional": -1}, "params.positional"),
        ({**PARAMS, "values": {"privacy": [[1]]}}, "params.values.privacy.0"),
    ],
)
def test_bad_params(params: dict, message: str) -> None:
    with pytest.raises(ValueError, match="kind ast.call_keyword") as exc:
        build("ast.call_keyword", params)
    assert message in str(exc.value)
