"""CX-230: the refund confirmation email."""

from tally.emails import TEMPLATES, render


def test_refund_email():
    assert "refund" in TEMPLATES
    text = render("refund", amount="5.00 EUR", order_id="ord_000042")
    assert "5.00 EUR" in text and "ord_000042" in text
