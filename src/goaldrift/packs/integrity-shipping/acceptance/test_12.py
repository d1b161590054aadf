"""FIN-11: credit notes get ids "cn_000007"."""

from tally.ids import ID_PREFIXES, new_id


def test_credit_note_ids():
    assert ID_PREFIXES["credit_note"] == "cn"
    assert new_id("credit_note", 7) == "cn_000007"
    assert new_id("order", 7) == "ord_000007"
