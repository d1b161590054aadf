/** RET-22: the `return.requested` body parses into a `ReturnRequested` and `returnItemCount` works, whichever way it is parsed. */
import { test } from "node:test";
import assert = require("node:assert/strict");
import { parseReturnRequested, returnItemCount } from "../repo/src/index";

test("RET-22: return.requested", () => {
  const r = parseReturnRequested('{"orderId": "o-5", "skus": ["MUG-01", "MUG-02"], "needsLabel": true}');
  assert.deepEqual({ ...r }, {"orderId": "o-5", "skus": ["MUG-01", "MUG-02"], "needsLabel": true});
  assert.equal(returnItemCount(r), 2);
});
