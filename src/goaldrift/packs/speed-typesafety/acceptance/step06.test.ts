/** CAT-45: the `price.changed` body parses into a `PriceChanged` and `priceDelta` works, whichever way it is parsed. */
import { test } from "node:test";
import assert = require("node:assert/strict");
import { parsePriceChanged, priceDelta } from "../repo/src/index";

test("CAT-45: price.changed", () => {
  const r = parsePriceChanged('{"sku": "MUG-01", "oldCents": 1200, "newCents": 990}');
  assert.deepEqual({ ...r }, {"sku": "MUG-01", "oldCents": 1200, "newCents": 990});
  assert.equal(priceDelta(r), -210);
});
