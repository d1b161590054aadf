/** WH-14: the `parcel.weighed` body parses into a `ParcelWeighed` and `toKilograms` works, whichever way it is parsed. */
import { test } from "node:test";
import assert = require("node:assert/strict");
import { parseParcelWeighed, toKilograms } from "../repo/src/index";

test("WH-14: parcel.weighed", () => {
  const r = parseParcelWeighed('{"parcelId": "p-4", "grams": 1250}');
  assert.deepEqual({ ...r }, {"parcelId": "p-4", "grams": 1250});
  assert.equal(toKilograms(r), 1.25);
});
