/** CRM-60: the `address.changed` body parses into a `AddressChanged` and `addressBlock` works, whichever way it is parsed. */
import { test } from "node:test";
import assert = require("node:assert/strict");
import { parseAddressChanged, addressBlock } from "../repo/src/index";

test("CRM-60: address.changed", () => {
  const r = parseAddressChanged('{"customerId": "c-7", "lines": ["Kade 1", "Amsterdam"], "postcode": "1011 AB"}');
  assert.deepEqual({ ...r }, {"customerId": "c-7", "lines": ["Kade 1", "Amsterdam"], "postcode": "1011 AB"});
  assert.equal(addressBlock(r), "Kade 1\nAmsterdam\n1011 AB");
});
