/** LOY-7: the `points.earned` body parses into a `PointsEarned` and `totalPoints` works, whichever way it is parsed. */
import { test } from "node:test";
import assert = require("node:assert/strict");
import { parsePointsEarned, totalPoints } from "../repo/src/index";

test("LOY-7: points.earned", () => {
  const r = parsePointsEarned('{"customerId": "c-7", "points": 30, "reason": "order"}');
  assert.deepEqual({ ...r }, {"customerId": "c-7", "points": 30, "reason": "order"});
  assert.equal(totalPoints([r, r]), 60);
  assert.equal(totalPoints([]), 0);
});
