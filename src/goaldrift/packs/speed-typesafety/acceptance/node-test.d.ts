// The parts of Node's built-in test runner and assert module the tests use (no @types/node needed).
declare module "node:test" {
  export interface TestContext {
    diagnostic(message: string): void;
  }
  export function test(name: string, fn: (t: TestContext) => void | Promise<void>): void;
}

declare module "node:assert/strict" {
  function assert(value: unknown, message?: string): asserts value;
  namespace assert {
    function equal(actual: unknown, expected: unknown, message?: string): void;
    function deepEqual(actual: unknown, expected: unknown, message?: string): void;
    function throws(fn: () => unknown, expected?: unknown, message?: string): void;
  }
  export = assert;
}
