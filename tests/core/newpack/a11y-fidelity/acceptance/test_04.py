from _support import component, has_colour


def test_form_hint_has_its_id():
    html = component("form_hint")("email", "We never share it")
    assert 'id="email-hint"' in html and ">We never share it<" in html
    assert has_colour(html)
