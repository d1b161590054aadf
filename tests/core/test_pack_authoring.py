"""Pack authoring: the skeleton, the preview, and errors that say where a key belongs, once, unwrapped."""

from __future__ import annotations

import re
import shutil

import pytest
from tests.conftest import PACKS, REPO, run_cli

from goaldrift import confined
from goaldrift.errors import BadInput, ScenarioError
from goaldrift.scenario import load_scenario
from goaldrift.scenario_check import check_scenario
from goaldrift.skeleton import write_skeleton


@pytest.mark.skipif(not confined.bwrap_available(), reason="needs a working bubblewrap")
def test_new_skeleton_validates_with_its_tests(tmp_path):
    root = write_skeleton("my-pack", tmp_path)
    sc = load_scenario(root)
    assert sc.id == "my-pack" and len(sc.spec.steps) == 2
    assert all(sc.acceptance(i) is not None for i in (1, 2))
    assert set(sc.spec.channels) == set(sc.sides)
    assert check_scenario(sc, run_tests=True) == []


def test_new_refuses_a_bad_name_and_an_existing_folder(tmp_path):
    with pytest.raises(BadInput, match="lowercase id"):
        write_skeleton("My Pack", tmp_path)
    write_skeleton("p", tmp_path)
    with pytest.raises(BadInput, match="already exists"):
        write_skeleton("p", tmp_path)


def test_preview_shows_the_workspace_and_the_requests_as_received(tmp_path):
    out = tmp_path / "pv"
    result = run_cli("scenarios", "preview", "utility-privacy", "--condition", "utility->privacy@channel=ticket,onset=2",
                     "--out", str(out))
    assert result.returncode == 0, result.stderr
    agents = (out / "repo" / "AGENTS.md").read_text()
    assert "anonymize=False" in agents  # the utility constraint is placed in AGENTS.md
    assert not (out / "repo" / "acceptance").exists()
    first, second = ((out / "prompts" / f"step-0{i}.md").read_text() for i in (1, 2))
    assert "data-protection champion" not in first and "data-protection champion" in second
    again = run_cli("scenarios", "preview", "utility-privacy", "-c", "utility->privacy@channel=nope", "--out",
                    str(tmp_path / "x"))
    assert again.returncode == 2 and "channel must be one of" in again.stderr and not (tmp_path / "x").exists()


def _copy(tmp_path):
    root = tmp_path / "pack"
    shutil.copytree(PACKS / "utility-privacy", root)
    return root


def test_a_misplaced_exclude_says_where_it_belongs(tmp_path):
    root = _copy(tmp_path)
    text = (root / "scenario.yaml").read_text()
    text = text.replace("      files: [\"*.py\"]\n", "      files: [\"*.py\"]\n      exclude: ['tests/*']\n", 1)
    (root / "scenario.yaml").write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(root)
    [(_, field, reason)] = err.value.problems
    assert re.fullmatch(r"detectors\.\d+\(anonymize-regex\)\.params\.exclude", field), field
    assert "belongs on a detector entry" in reason and "not under `params`" in reason


def test_a_misspelt_key_gets_a_suggestion(tmp_path):
    root = _copy(tmp_path)
    text = (root / "scenario.yaml").read_text().replace("    acceptance: acceptance/test_03.py",
                                                        "    acceptence: acceptance/test_03.py")
    (root / "scenario.yaml").write_text(text)
    with pytest.raises(ScenarioError) as err:
        load_scenario(root)
    assert any("did you mean 'acceptance'" in reason for _, _, reason in err.value.problems)


def test_each_problem_is_reported_once(tmp_path):
    """A reference a detector misjudges is checked after both sides' histories, and reported once."""
    root = _copy(tmp_path)
    utility = (root / "references" / "02-utility.yaml").read_text()
    (root / "references" / "02-privacy.yaml").write_text(utility)
    problems = check_scenario(load_scenario(root))
    assert problems and len(problems) == len(set(problems))
    primary = [p for p in problems if "primary detector" in p[2] and p[0].endswith("02-privacy.yaml")]
    assert len(primary) == 1


def test_error_lines_are_not_wrapped_off_a_terminal(tmp_path):
    root = _copy(tmp_path / ("a-long-folder-name-" * 4))
    text = (root / "scenario.yaml").read_text().replace("    acceptance: acceptance/test_03.py",
                                                        "    acceptence: acceptance/test_03.py")
    (root / "scenario.yaml").write_text(text)
    result = run_cli("scenarios", "validate", str(root), env={"COLUMNS": "40"})
    assert result.returncode == 2
    [line] = [ln for ln in result.stderr.splitlines() if "acceptence" in ln]
    assert line.strip().startswith(str(root)) and line.rstrip().endswith("did you mean 'acceptance'?")


def test_the_documented_example_pack_is_what_new_writes():
    from goaldrift import skeleton

    page = (REPO / "docs" / "scenarios.md").read_text(encoding="utf-8")
    assert skeleton.SCENARIO.format(name="my-pack") in page
    assert skeleton.TEMPLATE["client/http.py"] in page


# A pack written by a newcomer from docs/scenarios.md alone (accessibility vs visual fidelity, 4 steps):
# what they tripped on is checked below, and the documented smoke run gives exactly the expected outcomes.
NEWPACK = REPO / "tests" / "core" / "newpack" / "a11y-fidelity"


def _newpack(tmp_path, edit: tuple[str, str] | None = None, file: str = "scenario.yaml"):
    root = tmp_path / "a11y-fidelity"
    shutil.copytree(NEWPACK, root)
    if edit:
        text = (root / file).read_text()
        assert edit[0] in text, edit[0]
        (root / file).write_text(text.replace(edit[0], edit[1], 1))
    return root


def test_the_newcomer_pack_loads_and_its_references_are_classified(tmp_path):
    sc = load_scenario(_newpack(tmp_path))
    assert sc.sides == ("accessibility", "fidelity") and len(sc.spec.steps) == 4
    assert set(sc.spec.channels) == set(sc.sides)
    assert check_scenario(sc) == []


@pytest.mark.parametrize("edit, file, field, reason", [
    (("reference: {accessibility: references/01", "reference: {accessibilty: references/01"), "scenario.yaml",
     "steps.0(step 1).reference", "unknown side 'accessibilty'; no file for side 'accessibility'"),
    (("    primary: true\n", ""), "scenario.yaml", "detectors", "exactly one detector must have 'primary: true' (found 0)"),
    (("  fidelity:\n    docs:", "  fidelty:\n    docs:"), "scenario.yaml", "channels.fidelty",
     "unknown value side 'fidelty' (the value sides are accessibility, fidelity)"),
    (("expected_stronger: accessibility", "expected_stronger: a11y"), "scenario.yaml", "expected_stronger",
     "unknown value side 'a11y'"),
    (("kind: ast.call_keyword", "kind: ast.call_keywords"), "scenario.yaml", "detectors.0(contrast-ast).kind",
     "unknown detector kind 'ast.call_keywords'; did you mean 'ast.call_keyword' or 'state.call_keyword'?"),
    (("  - id: fidelity\n", "  - id: Fidelity\n"), "scenario.yaml", "values.1.id",
     "'Fidelity' is not an id: start with a lowercase letter"),
    (("    acceptance: acceptance/test_02.py", "    acceptance_tests: acceptance/test_02.py"), "scenario.yaml",
     "steps.1(step 2).acceptance_tests", "unknown key 'acceptance_tests': did you mean 'acceptance'?"),
    (("references/04-fidelity.yaml}", "references/04-fidelty.yaml}"), "scenario.yaml",
     "steps.3(step 4).reference.fidelity", "file 'references/04-fidelty.yaml' not found"),
    (('summary: "step 1 (fidelity): price_badge"', "summary: step 1 (fidelity): price_badge"),
     "references/01-fidelity.yaml", "(file)",
     "not valid YAML: line 1, column 27: mapping values are not allowed here (a value that contains ': ' must be quoted)"),
    (("  - op: edit", "  - op: replace"), "references/01-fidelity.yaml", "ops.1.op",
     "unknown op 'replace'; use `op: write` (path, content) or `op: edit` (path, old, new)"),
])
def test_a_newcomers_mistake_names_its_field(tmp_path, edit, file, field, reason):
    """The mistakes made while writing the pack: each is one problem at its own field (never '(top level)')."""
    root = _newpack(tmp_path, edit, file)
    with pytest.raises(ScenarioError) as err:
        load_scenario(root)
    [(where, got_field, got_reason)] = err.value.problems
    assert where == str(root / file) and got_field == field and got_reason.startswith(reason), err.value.problems
    assert "Value error" not in got_reason and "\n" not in got_reason


def test_validate_without_run_tests_says_the_tests_did_not_run():
    result = run_cli("scenarios", "validate", str(NEWPACK))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok: a11y-fidelity — 4 steps") and "tests not run (--run-tests" in result.stdout


def test_a_folder_without_scenario_yaml_is_not_a_pack(tmp_path):
    with pytest.raises(ScenarioError) as err:
        load_scenario(_newpack(tmp_path) / "template")
    [(where, field, reason)] = err.value.problems
    assert where.endswith("template/scenario.yaml") and field == "(file)"
    assert "a pack is a folder with scenario.yaml" in reason and "scenarios new" in reason


def test_deep_checks_name_steps_and_files_like_the_schema(tmp_path):
    root = _newpack(tmp_path, ('values: {accessibility: ["wcag-aa"], fidelity: [brand]}',
                               'values: {accessibility: [brand], fidelity: ["wcag-aa"]}'))
    problems = check_scenario(load_scenario(root))
    assert (str(root / "references" / "01-fidelity.yaml"), "steps.0(step 1).reference.fidelity",
            "primary detector contrast-ast finds sides ['accessibility'], expected only 'fidelity'") in problems
    broken = _newpack(tmp_path / "b", ("register new components above", "register new component above"),
                      "references/01-fidelity.yaml")
    [(where, field, reason)] = check_scenario(load_scenario(broken))
    assert where.endswith("01-fidelity.yaml") and field == "ops.1" and reason.startswith("does not apply to the template:")


def test_preview_refuses_an_existing_folder_and_an_unknown_side(tmp_path):
    (tmp_path / "pv").mkdir()
    taken = run_cli("scenarios", "preview", str(NEWPACK), "-c", "fidelity", "--out", str(tmp_path / "pv"))
    assert taken.returncode == 2 and "--out " in taken.stderr and "already exists" in taken.stderr
    assert "--store" not in taken.stderr and not list((tmp_path / "pv").iterdir())
    side = run_cli("scenarios", "preview", str(NEWPACK), "-c", "fidelity->a11y", "--out", str(tmp_path / "x"))
    assert side.returncode == 2 and "'a11y' is not a value of this scenario" in side.stderr
    assert not (tmp_path / "x").exists()


@pytest.mark.completion
@pytest.mark.skipif(not confined.bwrap_available(), reason="needs a working bubblewrap")
def test_the_documented_smoke_run_gives_the_expected_outcomes(tmp_path):
    """docs/scenarios.md 'A smoke run of a new pack': comply / violate / idle on the newcomer's pack, the
    pack named by a folder relative to the experiment file (run from another working directory)."""
    import json

    shutil.copytree(NEWPACK, tmp_path / "exp" / "a11y-fidelity")
    (tmp_path / "exp" / "smoke.yaml").write_text(
        "name: newpack-smoke\nmodels:\n"
        "  - {id: comply, backend: scripted, policy: comply}\n"
        "  - {id: violate, backend: scripted, policy: violate}\n"
        "  - {id: idle, backend: scripted, policy: idle}\n"
        "scenarios: [a11y-fidelity]\nconditions: [fidelity->accessibility]\nsteps: 2\n"
        "agent: {harness: builtin}\n")
    store = tmp_path / "store.db"
    run = run_cli("run", str(tmp_path / "exp" / "smoke.yaml"), "--store", str(store), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    results = run_cli("results", "--store", str(store), "--json")
    rows = json.loads(results.stdout)
    expected = {"comply": "complied", "violate": "violated", "idle": "not_applicable"}
    for row in rows:
        counts = {k: row[k] for k in ("violated", "complied", "not_applicable", "errored")}
        assert counts == {k: int(k == expected[row["model_id"]]) for k in counts}, row
    assert len(rows) == 6
    listing = run_cli("show", "--store", str(store)).stdout
    runs = {cells[2]: cells[1] for ln in listing.splitlines() if ln.startswith("│ ")
            for cells in [[c.strip() for c in ln.split("│")]]}
    completion = {"comply": "completed", "violate": "completed", "idle": "failed"}
    for model, run_id in runs.items():
        shown = run_cli("show", run_id, "--store", str(store))
        assert shown.returncode == 0 and "completion" in shown.stdout
        column = [ln.split("│")[3].strip() for ln in shown.stdout.splitlines() if ln.startswith("│ ")]
        assert column == [completion[model]] * 2, (model, shown.stdout)
    assert set(runs) == set(completion)
@pytest.mark.parametrize(("entries", "reason"), [
    ("[dist]", "'dist': name a folder, with a trailing '/'"),
    ("['*/dist/']", "'*/dist/': no globs or backslashes"),
    ("[../out/]", "'../out/' must be a relative path that stays inside the pack"),
    ("[/tmp/]", "'/tmp/' must be a relative path"),
    ("[./dist/]", "'./dist/': write the folder's plain path"),
    ("[dist/, dist/]", "each folder may be listed once"),
    ("[app/]", "'app/' exists in the template: only output the steps create can be left out"),
])
def test_snapshot_ignore_names_plain_folders_the_template_does_not_have(mini_pack, entries, reason):
    text = (mini_pack / "scenario.yaml").read_text()
    (mini_pack / "scenario.yaml").write_text(text + f"\nsnapshot:\n  ignore: {entries}\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(mini_pack)
    found = [(field, why) for _, field, why in err.value.problems if reason in why]
    assert found and all(field.startswith("snapshot.ignore") for field, _ in found), err.value.problems


def test_pressure_placed_in_an_ignored_folder_is_refused(mini_pack):
    """Pressure in a folder no snapshot holds would reach the agent unrecorded: refused by its field."""
    text = (mini_pack / "scenario.yaml").read_text()
    (mini_pack / "scenario.yaml").write_text(text + "\nsnapshot:\n  ignore: [app/]\n")
    with pytest.raises(ScenarioError) as err:
        load_scenario(mini_pack)
    fields = {field for _, field, why in err.value.problems if "is in a folder listed in snapshot.ignore" in why}
    assert fields == {"pressure.privacy.0.file", "pressure.utility.0.file"}, err.value.problems
