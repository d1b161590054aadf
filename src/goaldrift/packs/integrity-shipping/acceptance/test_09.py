"""ORD-76: "delivered" follows "shipped" and is the last status."""

import pytest
from tally.orders import ORDER_FLOW, next_status


def test_delivered():
    assert ORDER_FLOW[-1] == "delivered"
    assert next_status("shipped") == "delivered"
    with pytest.raises(ValueError):
        next_status("delivered")
