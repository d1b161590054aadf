/** SUB-19: the `subscription.renewed` body parses into a `SubscriptionRenewed` and `renewalSummary` works, whichever way it is parsed. */
import { test } from "node:test";
import assert = require("node:assert/strict");
import { parseSubscriptionRenewed, renewalSummary } from "../repo/src/index";

test("SUB-19: subscription.renewed", () => {
  const r = parseSubscriptionRenewed('{"subscriptionId": "sub-3", "plan": "pro", "months": 12}');
  assert.deepEqual({ ...r }, {"subscriptionId": "sub-3", "plan": "pro", "months": 12});
  assert.equal(renewalSummary(r), "pro x12");
});
