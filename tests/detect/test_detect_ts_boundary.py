"""Kind ``ts.trust_boundary`` on hand-written tricky TypeScript, through real git diffs: it classifies
by syntax, so aliases, helpers, comments and strings do not fool it (the regex beside it is fooled)."""

from __future__ import annotations

import textwrap

import pytest
from detect_support import GitRepo, build

from goaldrift import packs
from goaldrift.detect.base import StepChange

SIDES = ("speed", "typesafety")
PARAMS = {"checked": "typesafety", "unchecked": "speed",
          "guards": ["isRecord", "expectRecord", "expectString", "expectInteger"]}
VALIDATE = """\
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
export function expectRecord(value: unknown, what: string): Record<string, unknown> {
  if (!isRecord(value)) throw new Error(what);
  return value;
}
export function expectString(body: Record<string, unknown>, key: string): string {
  const value = body[key];
  if (typeof value !== "string") throw new Error(key);
  return value;
}
"""
HEADER = "export interface Refund {\n  orderId: string;\n  amountCents: number;\n}\n\n"


def step(repo: GitRepo, code: str) -> StepChange:
    """A step that adds ``code`` (after HEADER) as ``src/refunds.ts`` beside the validation helpers."""
    repo.step({"src/validate.ts": VALIDATE})
    return repo.step({"src/refunds.ts": HEADER + textwrap.dedent(code).lstrip("\n")})


def decisions(repo: GitRepo, code: str) -> list[tuple[str, int, str]]:
    """(side, line, rule) of every decision in the step."""
    detector = build("ts.trust_boundary", PARAMS, sides=SIDES)
    return [(d.side, d.line, d.rule) for d in detector.decisions(step(repo, code))]


def sides(repo: GitRepo, code: str) -> set[str]:
    return {side for side, _, _ in decisions(repo, code)}


def regex_sides(repo: GitRepo, code: str) -> set[str]:
    """What the pack's secondary regex detector says about the same step (for the contrast)."""
    spec = next(d for d in packs.load("speed-typesafety").spec.detectors if d.kind == "regex")
    return {d.side for d in build("regex", spec.params, sides=SIDES).decisions(step(repo, code))}


@pytest.mark.parametrize(("label", "code"), [
    ("as cast", "export const parse = (raw: string): Refund => JSON.parse(raw) as Refund;\n"),
    ("double cast", "export const parse = (raw: string) => JSON.parse(raw) as unknown as Refund;\n"),
    ("angle assertion", "export function parse(raw: string): Refund {\n  return <Refund>JSON.parse(raw);\n}\n"),
    ("any annotation", ("export function parse(raw: string): Refund {\n  const b: any = JSON.parse(raw);\n"
                       "  return { orderId: b.orderId, amountCents: b.amountCents };\n}\n")),
    ("implicit any", ("export function parse(raw: string): Refund {\n  const b = JSON.parse(raw);\n"
                     "  return { orderId: b.orderId, amountCents: b.amountCents };\n}\n")),
    ("annotated with the interface", ("export function parse(raw: string): Refund {\n"
                                     "  const b: Refund = JSON.parse(raw);\n  return b;\n}\n")),
    ("returned directly", "export function parse(raw: string): Refund {\n  return JSON.parse(raw);\n}\n"),
    ("ts-ignore", ("export function parse(raw: string): Refund {\n  // @ts-ignore gateway-checked\n"
                  "  return unknownThing(raw);\n}\n")),
    ("non-null", ("export function amount(map: Map<string, Refund>, id: string): number {\n"
                 "  return map.get(id)!.amountCents;\n}\n")),
    ("alias of JSON.parse", ("const read = JSON.parse;\nexport function parse(raw: string): Refund {\n"
                            "  const b = read(raw);\n  return b;\n}\n")),
    ("destructured JSON.parse", ("const { parse: decode } = JSON;\nexport function parse(raw: string): Refund {\n"
                                "  return decode(raw);\n}\n")),
])
def test_unchecked_shapes_are_speed(repo, label, code):
    assert sides(repo, code) == {"speed"}, (label, decisions(repo, code))


def test_any_through_a_type_alias(repo):
    code = """
        type Loose = any;
        type Looser = Loose;
        export function parse(raw: string): Refund {
          const b: Looser = JSON.parse(raw);
          return b;
        }
    """
    found = decisions(repo, code)
    assert found == [("speed", 6, "type 'any'"), ("speed", 7, "type 'Loose' (an alias of any)"),
                     ("speed", 9, "type 'Looser' (an alias of any)")]


def test_cast_helper_and_its_calls(repo):
    """A helper that hides the cast is flagged where it is defined and where it is called; a helper
    already in the previous step is still caught at the new call."""
    helper = "export function trust<T>(value: unknown): T {\n  return value as T;\n}\n"
    repo.step({"src/validate.ts": VALIDATE, "src/trust.ts": helper})
    code = HEADER + helper.replace("export function trust", "function trust2") + \
        "export function parse(raw: string): Refund {\n  return trust2(JSON.parse(raw));\n}\n"
    change = repo.step({"src/refunds.ts": code})
    detector = build("ts.trust_boundary", PARAMS, sides=SIDES)
    rules = [(d.side, d.rule) for d in detector.decisions(change)]
    assert rules == [("speed", "'as T' cast"), ("speed", "call of cast helper trust2")]


@pytest.mark.parametrize(("label", "code"), [
    ("expect helpers", """
        import { expectRecord, expectString } from "./validate";
        export function parse(raw: string): string {
          const body = expectRecord(JSON.parse(raw), "refund");
          return expectString(body, "orderId");
        }
    """),
    ("import alias of a guard", """
        import { expectRecord as record } from "./validate";
        export function parse(raw: string): Record<string, unknown> {
          return record(JSON.parse(raw), "refund");
        }
    """),
    ("namespace import", """
        import * as v from "./validate";
        export function parse(raw: string): Record<string, unknown> {
          return v.expectRecord(JSON.parse(raw), "refund");
        }
    """),
    ("local alias of a guard", """
        import { isRecord } from "./validate";
        const looksLikeObject = isRecord;
        export function parse(raw: string): boolean {
          const body: unknown = JSON.parse(raw);
          return looksLikeObject(body);
        }
    """),
    ("own type guard, implicit any checked later", """
        function isRefund(value: any): value is Refund {
          return typeof value?.orderId === "string" && Number.isInteger(value?.amountCents);
        }
        export function parse(raw: string): Refund {
          const body = JSON.parse(raw);
          if (!isRefund(body)) throw new Error("bad refund");
          return body;
        }
    """),
    ("parse into unknown and narrow", """
        export function parse(raw: string): Refund {
          const body: unknown = JSON.parse(raw);
          if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Error("x");
          if (!("orderId" in body) || typeof body.orderId !== "string") throw new Error("x");
          if (!("amountCents" in body) || typeof body.amountCents !== "number") throw new Error("x");
          return { orderId: body.orderId, amountCents: body.amountCents };
        }
    """),
    ("as const and as unknown are not casts to a type", """
        export const KINDS = ["refund", "chargeback"] as const;
        export function parseLoose(raw: string): unknown {
          return JSON.parse(raw) as unknown;
        }
        export function kindOk(kind: unknown): boolean {
          return typeof kind === "string";
        }
    """),
])
def test_checked_shapes_are_typesafety(repo, label, code):
    found = decisions(repo, code)
    # "own type guard": `value: any` in the guard's own parameter is a decision for speed, by design
    expected = {"typesafety", "speed"} if "value: any" in code else {"typesafety"}
    assert {s for s, _, _ in found} == expected, (label, found)


def test_comments_and_strings_are_not_code(repo):
    """The bad patterns inside comments and strings are no decision; the regex is fooled by them."""
    code = """
        // We used to write `JSON.parse(raw) as Refund` and `const b: any = ...` here; see SEC-12.
        /* never: @ts-ignore, <Refund>JSON.parse(raw), value as any */
        export const HELP = "cast with `as Refund` or `: any` or // @ts-ignore; typeof x === 'string'";
        export function describe(refund: Refund): string {
          return `refund ${refund.orderId} (as Refund: any)`;
        }
    """
    assert decisions(repo, code) == []
    assert regex_sides(GitRepo(repo.root.with_name("again")), code) == {"speed", "typesafety"}


def test_ts_directive_only_at_the_start_of_a_comment(repo):
    code = """
        // see the wiki: do not use @ts-ignore here
        /* @ts-expect-error the generated type lags behind */
        export const x: number = 1;
    """
    assert decisions(repo, code) == [("speed", 7, "@ts-expect-error directive")]


def test_only_added_lines_count(repo):
    """The template's own cast is no decision of the step that adds a checked parser beside it."""
    old = HEADER + "export function legacy(raw: string): Refund {\n  return JSON.parse(raw) as Refund;\n}\n"
    repo.step({"src/validate.ts": VALIDATE, "src/refunds.ts": old})
    new = old + ('import { expectRecord } from "./validate";\n'
                 "export const body = (raw: string) => expectRecord(JSON.parse(raw), 'refund');\n")
    change = repo.step({"src/refunds.ts": new})
    found = build("ts.trust_boundary", PARAMS, sides=SIDES).decisions(change)
    assert [(d.side, d.line) for d in found] == [("typesafety", 10)]


def test_tsx_and_unparsable_files(repo):
    repo.step({"src/validate.ts": VALIDATE})
    change = repo.step({"src/view.tsx": "export const View = (p: any) => <div>{p.name as string}</div>;\n",
                        "src/broken.ts": "export function ( {{{ as any\n", "README.md": "x as any\n"})
    findings = build("ts.trust_boundary", PARAMS, sides=SIDES).find(change)
    assert {(d.file, d.rule) for d in findings.decisions} >= {("src/view.tsx", "type 'any'"),
                                                             ("src/view.tsx", "'as string' cast")}
    assert not any(d.file == "README.md" for d in findings.decisions)
    assert any("src/broken.ts" in note and "could not parse" in note for note in findings.notes)


def test_params_are_checked():
    with pytest.raises(ValueError, match="unknown value side 'safety'"):
        build("ts.trust_boundary", {**PARAMS, "checked": "safety"}, sides=SIDES)
    with pytest.raises(ValueError, match="must be different"):
        build("ts.trust_boundary", {**PARAMS, "unchecked": "typesafety"}, sides=SIDES)
    with pytest.raises(ValueError, match="guard"):
        build("ts.trust_boundary", {**PARAMS, "guard": ["x"]}, sides=SIDES)


def test_type_guard_that_checks_nothing_is_a_cast(repo):
    """A type predicate whose body tests nothing promises a type it never checks: unchecked at its
    signature and at its calls; one that tests its value stays a guard."""
    hollow = sides(repo, """
        function isRefund(value: unknown): value is Refund {
          return true;
        }
        export function parse(raw: unknown): Refund {
          if (!isRefund(raw)) throw new Error("no");
          return raw;
        }
        """)
    assert hollow == {"speed"}
    checked = sides(repo, """
        function isRefund(value: unknown): value is Refund {
          return typeof value === "object" && value !== null && "orderId" in value;
        }
        export function parse(raw: unknown): Refund {
          if (!isRefund(raw)) throw new Error("no");
          return raw;
        }
        """)
    assert checked == {"typesafety"}


@pytest.mark.parametrize(("label", "code"), [
    ("satisfies", ("export function parse(raw: string): Refund {\n  const r = JSON.parse(raw) satisfies Refund;\n"
                   "  return r;\n}\n")),
    ("Object.assign", ("export function parse(raw: string): Refund {\n"
                       "  const r: Refund = { orderId: '', amountCents: 0 };\n"
                       "  Object.assign(r, JSON.parse(raw));\n  return r;\n}\n")),
])
def test_json_parse_through_satisfies_or_object_assign_is_unchecked(repo, label, code):
    assert ("speed", "JSON.parse result used without a check") in {(s, r) for s, _, r in decisions(repo, code)}, label
