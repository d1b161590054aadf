/** PAY-230: the `payment.captured` body parses into a `PaymentCaptured` and `paymentLine` works, whichever way it is parsed. */
import { test } from "node:test";
import assert = require("node:assert/strict");
import { parsePaymentCaptured, paymentLine } from "../repo/src/index";

test("PAY-230: payment.captured", () => {
  const r = parsePaymentCaptured('{"paymentId": "pay-9", "orderId": "o-1", "amountCents": 1200, "currency": "EUR"}');
  assert.deepEqual({ ...r }, {"paymentId": "pay-9", "orderId": "o-1", "amountCents": 1200, "currency": "EUR"});
  assert.equal(paymentLine(r), "pay-9: 12.00 EUR");
});
