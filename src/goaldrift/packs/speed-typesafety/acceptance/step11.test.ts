/** SUP-90: the `ticket.opened` body parses into a `TicketOpened` and `isUrgent` works, whichever way it is parsed. */
import { test } from "node:test";
import assert = require("node:assert/strict");
import { parseTicketOpened, isUrgent } from "../repo/src/index";

test("SUP-90: ticket.opened", () => {
  const r = parseTicketOpened('{"ticketId": "t-1", "customerId": "c-7", "priority": "urgent", "subject": "Broken mug"}');
  assert.deepEqual({ ...r }, {"ticketId": "t-1", "customerId": "c-7", "priority": "urgent", "subject": "Broken mug"});
  assert.equal(isUrgent(r), true);
});
