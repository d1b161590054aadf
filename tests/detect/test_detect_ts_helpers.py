"""Kind ``ts.trust_boundary`` on a step that only calls a helper an earlier step wrote in another file:
the call is resolved through the imports and exports of the post-step tree and judged by the helper's
body, whatever name it is imported under and however it is re-exported."""

from __future__ import annotations

import pytest
from detect_support import GitRepo, build, change

SIDES = ("speed", "typesafety")
PARAMS = {"checked": "typesafety", "unchecked": "speed", "guards": ["expectString"]}
CAST = "export function asType<T>(x: unknown): T {\n  return x as T;\n}\n"
CHECK = ('export function toRefund(x: unknown): Refund {\n'
         '  if (typeof x !== "object" || x === null || !("orderId" in x)) throw new Error("refund");\n'
         '  return { orderId: String(x.orderId), amountCents: 0 };\n}\n')
HEADER = "export interface Refund { orderId: string; amountCents: number }\n"


def found(repo: GitRepo, earlier: dict[str, str], code: str) -> list[tuple[str, int, str]]:
    """(side, line, rule) of the decisions in a step that writes ``code`` as ``src/refunds.ts``
    after an earlier step wrote ``earlier``."""
    detector = build("ts.trust_boundary", PARAMS, sides=SIDES)
    step = change(repo, earlier, {"src/refunds.ts": HEADER + code})
    return [(d.side, d.line, d.rule) for d in detector.decisions(step)]


def test_cast_helper_of_an_earlier_step_is_unchecked_at_the_call(repo):
    code = 'import { asType } from "./util";\nexport const parse = (raw: string) => asType<Refund>(JSON.parse(raw));\n'
    assert found(repo, {"src/util.ts": CAST}, code) == [
        ("speed", 3, "call of cast helper asType defined in src/util.ts")]


@pytest.mark.parametrize(("label", "earlier", "code"), [
    ("renamed import of an arrow helper", {"src/cast.ts": "export const trust = (x: unknown): Refund => <Refund>x;\n"},
     'import { trust as t } from "./cast";\nexport const parse = (raw: string) => t(JSON.parse(raw));\n'),
    ("re-exported under another name through an index",
     {"src/lib/cast.ts": CAST, "src/lib/index.ts": 'export { asType as coerce } from "./cast";\n'},
     'import { coerce } from "./lib";\nexport const parse = (raw: string) => coerce<Refund>(JSON.parse(raw));\n'),
    ("export star and an ESM .js specifier", {"src/lib/cast.ts": CAST, "src/lib/all.ts": 'export * from "./cast";\n'},
     'import { asType } from "./lib/all.js";\nexport const parse = (raw: string) => asType<Refund>(JSON.parse(raw));\n'),
    ("namespace import", {"src/util.ts": CAST},
     'import * as u from "./util";\nexport const parse = (raw: string) => u.asType<Refund>(JSON.parse(raw));\n'),
    ("default export, not generic", {"src/load.ts": "export default function (raw: string): any {\n  return JSON.parse(raw);\n}\n"},
     'import load from "./load";\nexport const parse = (raw: string): Refund => load(raw);\n'),
    ("imported into a module, then exported", {"src/util.ts": CAST, "src/api.ts": 'import { asType } from "./util";\nexport { asType };\n'},
     'import { asType as a } from "./api";\nexport const parse = (raw: string) => a<Refund>(JSON.parse(raw));\n'),
])
def test_helper_resolved_through_imports_and_exports(repo, label, earlier, code):
    assert [side for side, _, _ in found(repo, earlier, code)] == ["speed"], label


def test_checking_helper_of_an_earlier_step_is_checked(repo):
    code = 'import { toRefund as refund } from "./check";\nexport const parse = (raw: string) => refund(JSON.parse(raw));\n'
    assert found(repo, {"src/check.ts": HEADER + CHECK}, code) == [
        ("typesafety", 3, "call of checking helper toRefund defined in src/check.ts")]


def test_the_binding_is_followed_not_the_name(repo):
    """A cast helper of the same name in another module does not decide a call of the checking one,
    and a call of a name nothing imports is no decision."""
    earlier = {"src/cast.ts": CAST.replace("asType", "toRefund"), "src/check.ts": HEADER + CHECK}
    code = ('import { toRefund } from "./check";\nexport const parse = (raw: string) => toRefund(JSON.parse(raw));\n'
            'export const other = (x: unknown) => asType<Refund>(x);\n')
    assert [side for side, _, _ in found(repo, earlier, code)] == ["typesafety"]


def test_packages_and_paths_outside_the_repository_are_not_read(repo, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "cast.ts").write_text(CAST)
    (repo.root / "src").mkdir()
    (repo.root / "src" / "ext").symlink_to(outside, target_is_directory=True)
    code = ('import { asType } from "./ext/cast";\nimport { asType as pkg } from "cast-lib";\n'
            'import { asType as up } from "../../outside/cast";\n'
            'export const a = (x: unknown) => asType<Refund>(x);\nexport const b = (x: unknown) => pkg<Refund>(x);\n'
            'export const c = (x: unknown) => up<Refund>(x);\n')
    assert found(repo, {"README.md": "x\n"}, code) == []
