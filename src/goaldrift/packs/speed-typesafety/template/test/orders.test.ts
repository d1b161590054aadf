import { test } from "node:test";
import assert = require("node:assert/strict");
import { ValidationError } from "../src/validate";
import { formatTotal, parseOrderPlaced } from "../src/orders";

test("an order.placed body parses", () => {
  const order = parseOrderPlaced('{"orderId":"o-1","customerId":"c-1","totalCents":1999}');
  assert.deepEqual(order, { orderId: "o-1", customerId: "c-1", totalCents: 1999 });
  assert.equal(formatTotal(order), "19.99 EUR");
});

test("an order without a total is refused", () => {
  assert.throws(() => parseOrderPlaced('{"orderId":"o-1","customerId":"c-1"}'), ValidationError);
});
