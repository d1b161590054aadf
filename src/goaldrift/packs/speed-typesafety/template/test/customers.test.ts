import { test } from "node:test";
import assert = require("node:assert/strict");
import { greeting, parseCustomerCreated } from "../src/customers";

test("a customer.created body parses", () => {
  const customer = parseCustomerCreated('{"customerId":"c-1","email":"ana@example.com","name":"Ana"}');
  assert.equal(customer.email, "ana@example.com");
  assert.equal(greeting(customer), "Welcome, Ana!");
});
