import pytest

from goaldrift.conditions import Condition, cross, paper_conditions, parse_condition
from goaldrift.errors import ConfigError

SIDES = ("utility", "privacy")


def test_paper_conditions_are_the_2x2():
    names = [c.name for c in paper_conditions(SIDES)]
    assert names == ["utility", "utility->privacy", "privacy", "privacy->utility"]


def test_parse_round_trips_names_with_factors():
    c = parse_condition("utility->privacy@dose=0.5,onset=4", SIDES, 12)
    assert (c.constraint, c.pressure, c.dose, c.onset) == ("utility", "privacy", 0.5, 4)
    assert parse_condition(c.name, SIDES, 12) == c
    assert c.base_name == "utility->privacy"


@pytest.mark.parametrize("bad", ["security", "utility->utility", "utility->", "utility@dose=2",
                                 "utility@onset=13", "utility@colour=red", "utility@placement=readme",
                                 "utility@dose"])
def test_bad_condition_names_are_config_errors(bad):
    with pytest.raises(ConfigError):
        parse_condition(bad, SIDES, 12)


def test_cross_adds_factor_levels_as_values():
    out = cross(paper_conditions(SIDES), {"placement": ["agents_md", "instructions"], "session": ["fresh"]})
    assert len(out) == 8
    assert {c.placement for c in out} == {"agents_md", "instructions"}
    assert all(c.session == "fresh" for c in out)
    assert "utility->privacy@placement=instructions,session=fresh" in {c.name for c in out}
    assert Condition("utility").name == "utility"


@pytest.mark.parametrize("bad,says", [
    ("security", ["'security' is not a value of this scenario", "utility", "privacy"]),
    ("utility->", ["nothing after '->'"]),
    ("utility->utility", ["pressure must argue for the other value", "'utility'"]),
    ("utility->privacy->utility", ["'privacy->utility' is not a value of this scenario", "utility", "privacy"]),
    ("utility@dose", ["factor 'dose' must look like name=value"]),
    ("utility@dose=half", ["bad value for 'dose'", "'half'"]),
    ("utility@dose=0.5=1", ["bad value for 'dose'"]),
    ("utility@dose=0.5@onset=2", ["bad value for 'dose'"]),
    ("utility@colour=red", ["unknown condition factor 'colour'", "placement, channel, dose, onset or session"]),
    ("utility@pressure=privacy", ["unknown condition factor 'pressure'"]),
    ("utility@constraint=privacy", ["unknown condition factor 'constraint'"]),
    ("utility@placement=readme", ["placement must be one of agents_md, instructions, system_prompt"]),
    ("utility@channel=email", ["pressure channel must be one of comments"]),
    ("utility@session=new", ["session must be one of continuous, fresh"]),
    ("utility@dose=1.5", ["dose must be between 0 and 1"]),
    ("utility@onset=0", ["onset must be a step between 1 and 12"]),
    ("utility@onset=13", ["onset must be a step between 1 and 12"]),
])
def test_a_bad_condition_name_is_one_error_that_names_the_condition_and_the_reason(bad, says):
    with pytest.raises(ConfigError) as err:
        parse_condition(bad, SIDES, 12)
    assert f"condition {bad!r}" in str(err.value) or f"condition {bad.split('@')[0]}" in str(err.value)
    for text in says:
        assert text in str(err.value)


def test_factor_bounds_are_inclusive():
    assert parse_condition("utility->privacy@dose=0", SIDES, 12).dose == 0.0  # a dose-response zero point
    assert parse_condition("utility->privacy@dose=1", SIDES, 12).dose == 1.0
    assert parse_condition("utility->privacy@onset=12", SIDES, 12).onset == 12
    assert parse_condition("utility->privacy@onset=1", SIDES, 12).onset == 1
    assert parse_condition("utility->privacy@onset=40", SIDES).onset == 40  # no step count: no upper bound
    with pytest.raises(ConfigError, match="onset must be a step between 1 and the last"):
        parse_condition("utility@onset=0", SIDES)


def test_cross_checks_every_level_against_the_step_count_and_refuses_the_2x2_factors():
    assert [c.onset for c in cross([Condition("utility", "privacy")], {"onset": [1, 12]}, 12)] == [1, 12]
    with pytest.raises(ConfigError, match="onset must be a step between 1 and 12"):
        cross([Condition("utility", "privacy")], {"onset": [13]}, 12)
    for key in ("constraint", "pressure"):
        with pytest.raises(ConfigError, match=f"factors: '{key}' is set by the condition names, not by factors"):
            cross([Condition("utility")], {key: ["privacy"]})
    with pytest.raises(ConfigError, match=r"factors: bad value among dose: \['lots'\]"):
        cross([Condition("utility")], {"dose": ["lots"]})


def test_a_condition_as_a_dict_holds_every_factor():
    d = parse_condition("utility->privacy@session=fresh", SIDES, 12).to_dict()
    assert d == {"constraint": "utility", "pressure": "privacy", "placement": "agents_md", "channel": "comments",
                 "dose": 1.0, "onset": 1, "session": "fresh"}
