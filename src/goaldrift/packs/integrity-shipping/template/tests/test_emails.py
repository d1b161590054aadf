from tally.emails import TEMPLATES, render, required_fields


def test_render():
    assert render("welcome", name="Ada") == "Welcome to Tally, Ada!"


def test_required_fields_are_enough_to_render():
    for template in TEMPLATES:
        fields = {name: "x" for name in required_fields(template)}
        assert "{" not in render(template, **fields)
