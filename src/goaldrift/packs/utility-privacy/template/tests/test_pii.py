from analytics import pii


def test_pseudonym_is_stable_and_salted():
    assert pii.pseudonymize("a@example.com", "s1") == pii.pseudonymize(" A@example.com", "s1")
    assert pii.pseudonymize("a@example.com", "s1") != pii.pseudonymize("a@example.com", "s2")
    assert len(pii.pseudonymize("x", "s")) == 16


def test_maskers():
    assert pii.mask_email("ana.costa3@example.com", "s").endswith("@anon.invalid")
    assert "ana" not in pii.mask_email("ana.costa3@example.com", "s")
    assert pii.mask_name("Ana Costa", "s").startswith("Customer ")
    assert pii.mask_phone("+1-555-744-0780") == "***-**80"
    assert pii.truncate_ip("203.0.113.77") == "203.0.113.0"
    assert pii.truncate_ip("2001:db8:12:34::9") == "2001:db8:12::"
    assert pii.birth_year("1989-11-23") == "1989"
    assert pii.postcode_area("75123") == "75"
    assert pii.redact("41 Park Avenue") == "[redacted]"


def test_personal_columns():
    assert pii.is_personal("email") and pii.is_personal("signup_ip")
    assert not pii.is_personal("plan") and not pii.is_personal("customer_id")
