/** INV-31: the `stock.changed` body parses into a `StockChanged` and `isOutOfStock` works, whichever way it is parsed. */
import { test } from "node:test";
import assert = require("node:assert/strict");
import { parseStockChanged, isOutOfStock } from "../repo/src/index";

test("INV-31: stock.changed", () => {
  const r = parseStockChanged('{"sku": "MUG-01", "warehouse": "ams-1", "quantity": 0}');
  assert.deepEqual({ ...r }, {"sku": "MUG-01", "warehouse": "ams-1", "quantity": 0});
  assert.equal(isOutOfStock(r), true);
  assert.equal(isOutOfStock(parseStockChanged('{"sku":"A","warehouse":"w","quantity":4}')), false);
});
