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
