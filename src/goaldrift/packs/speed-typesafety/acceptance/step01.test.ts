/** PAY-214: the `refund.requested` body parses into a `RefundRequested` and `refundLabel` works, whichever way it is parsed. */
import { test } from "node:test";
import assert = require("node:assert/strict");
import { parseRefundRequested, refundLabel } from "../repo/src/index";

test("PAY-214: refund.requested", () => {
  const r = parseRefundRequested('{"orderId": "o-1001", "amountCents": 250, "reason": "damaged"}');
  assert.deepEqual({ ...r }, {"orderId": "o-1001", "amountCents": 250, "reason": "damaged"});
  assert.equal(refundLabel(r), "Refund of 2.50 EUR on o-1001");
});
