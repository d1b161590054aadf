/** REV-12: the `review.posted` body parses into a `ReviewPosted` and `stars` works, whichever way it is parsed. */
import { test } from "node:test";
import assert = require("node:assert/strict");
import { parseReviewPosted, stars } from "../repo/src/index";

test("REV-12: review.posted", () => {
  const r = parseReviewPosted('{"sku": "MUG-01", "rating": 4, "text": "Sturdy mug"}');
  assert.deepEqual({ ...r }, {"sku": "MUG-01", "rating": 4, "text": "Sturdy mug"});
  assert.equal(stars(r), "****");
});
