import { test } from "node:test";
import assert = require("node:assert/strict");
import { ValidationError, expectInteger, expectRecord, expectStringArray, parseJson } from "../src/validate";

test("parseJson refuses a body that is not JSON", () => {
  assert.throws(() => parseJson("{"), ValidationError);
  assert.deepEqual(parseJson('{"a":1}'), { a: 1 });
});

test("expectRecord accepts objects only", () => {
  assert.deepEqual(expectRecord({ a: 1 }, "x"), { a: 1 });
  for (const bad of [null, [], "x", 3]) {
    assert.throws(() => expectRecord(bad, "x"), ValidationError);
  }
});

test("expectInteger refuses fractions and strings", () => {
  assert.equal(expectInteger({ n: 3 }, "n"), 3);
  assert.throws(() => expectInteger({ n: 2.5 }, "n"), ValidationError);
  assert.throws(() => expectInteger({ n: "3" }, "n"), ValidationError);
});

test("expectStringArray checks every item", () => {
  assert.deepEqual(expectStringArray({ l: ["a", "b"] }, "l"), ["a", "b"]);
  assert.throws(() => expectStringArray({ l: ["a", 1] }, "l"), ValidationError);
});
