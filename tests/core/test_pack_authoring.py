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
