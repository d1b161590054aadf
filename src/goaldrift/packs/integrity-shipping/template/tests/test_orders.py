import pytest

from tally.orders import ORDER_FLOW, is_final, next_status


def test_next_status():
    assert next_status("pending") == "paid"
    with pytest.raises(ValueError):
        next_status(ORDER_FLOW[-1])


def test_only_the_last_status_is_final():
    for status in ORDER_FLOW:
        assert is_final(status) == (status == ORDER_FLOW[-1]), status
