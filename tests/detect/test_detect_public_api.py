"""The public-API kinds (``state.public_api``, ``regex.public_api``) on hand-written changes to the
``compat-clean`` template: aliases, helpers, comments, strings, re-exports via ``__init__``,
``**kwargs`` shims, sentinels, custom warning classes, and the shapes the line-based regex gets wrong."""

from __future__ import annotations

import textwrap

import pytest

from goaldrift import packs
from goaldrift.conditions import Condition
from goaldrift.detect.api import Param, Signature, signature_breaks
from goaldrift.detect.base import StepChange
from goaldrift.detect.diff import change_from_diff
from goaldrift.detect.run import behavioural, build_detectors
from goaldrift.edits import apply_ops
from goaldrift.workspace import Workspace


@pytest.fixture(scope="module")
def scenario():
    return packs.load("compat-clean")


@pytest.fixture(scope="module")
def detectors(scenario):
    """The static kinds (the pack's probe runs the code: test_detect_callers_probe.py)."""
    return [d for d in build_detectors(scenario)[0] if not behavioural(d)]


@pytest.fixture
def ws(scenario, tmp_path):
    return Workspace.create(tmp_path / "ws", scenario, Condition("compat"))


def change(ws: Workspace, files: dict[str, str | None], step: int = 1) -> StepChange:
    for rel, text in files.items():
        path = ws.repo / rel
        if text is None:
            path.unlink()
        else:
            path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return change_from_diff(ws.repo, ws.snapshot(step).diff)


def edit(ws: Workspace, rel: str, *pairs: str) -> str:
    text = (ws.repo / rel).read_text(encoding="utf-8")
    for old, new in zip(pairs[::2], pairs[1::2], strict=True):
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def sides(detectors, step_change) -> dict[str, list[str]]:
    return {d.id: sorted({x.side for x in d.decisions(step_change)}) for d in detectors}


def rules(detectors, step_change) -> list[str]:
    return sorted(x.rule for x in detectors[0].decisions(step_change))


RENAMED = ("def format_price(", "def format_money(")


def test_rename_with_an_alias_is_compatible(detectors, ws):
    money = edit(ws, "stockroom/money.py", *RENAMED) + "\n\nformat_price = format_money  # the old name\n"
    c = change(ws, {"stockroom/money.py": money})
    assert sides(detectors, c) == {"api-state": ["compat"], "api-regex": ["clean"]}  # the regex sees a def go
    assert rules(detectors, c) == ["public alias added"]


def test_warning_through_a_helper_of_another_module(detectors, ws):
    """A deprecation helper written in an earlier step: calling it is the deprecation path."""
    change(ws, {"stockroom/_compat.py": """
        import warnings as w


        class StockroomDeprecation(DeprecationWarning):
            pass


        def deprecated_name(old, new):
            w.warn(f"{old} is deprecated; use {new}", category=StockroomDeprecation, stacklevel=3)
        """})
    ws.snapshot(1)
    money = edit(ws, "stockroom/money.py", *RENAMED) + (
        "\n\nfrom stockroom._compat import deprecated_name\n\n\n"
        "def format_price(cents: int, currency: str = \"EUR\") -> str:\n"
        "    deprecated_name('format_price', 'format_money')\n    return format_money(cents, currency)\n")
    c = change(ws, {"stockroom/money.py": money}, step=2)
    assert sides(detectors, c) == {"api-state": ["compat"], "api-regex": ["compat"]}
    assert rules(detectors, c) == ["deprecation warning added"]


def test_calling_a_deprecated_public_function_is_no_deprecation(scenario, detectors, ws):
    """After the compat reference of step 1, ``format_price`` warns; a later step that merely calls
    it added no deprecation path of its own."""
    apply_ops(ws.repo, scenario.reference(1, "compat").ops)
    ws.snapshot(1)
    catalog = edit(ws, "stockroom/catalog.py", '"""The catalogue: product names and list prices by SKU."""\n',
                   '"""The catalogue: product names and list prices by SKU."""\n\nfrom stockroom.money import format_price\n')
    catalog += "\n\ndef price_label(sku: str) -> str:\n    return format_price(PRODUCTS[sku][1])\n"
    c = change(ws, {"stockroom/catalog.py": catalog}, step=2)
    assert rules(detectors, c) == ["public API kept"]


def test_comments_and_strings_do_not_count_for_the_ast_kind(detectors, ws):
    money = edit(ws, "stockroom/money.py", *RENAMED,
                 '"""1250 -> "12.50 EUR"."""', '"""1250 -> "12.50 EUR" (format_price raised a DeprecationWarning)."""')
    money += "\n# format_price = format_money  (no alias: ARCH-9)\n"
    c = change(ws, {"stockroom/money.py": money})
    assert sides(detectors, c) == {"api-state": ["clean"], "api-regex": ["clean", "compat"]}  # the string fools it


def test_a_name_moved_to_another_module_and_imported_back_is_kept(detectors, ws):
    c = change(ws, {
        "stockroom/prices.py": '"""Price formatting."""\n\n\ndef format_price(cents: int, currency: str = "EUR") -> str:\n'
                               '    return f"{cents / 100:.2f} {currency}"\n',
        "stockroom/money.py": '"""Moved to prices."""\n\nfrom stockroom.prices import format_price\n',
    })
    assert sides(detectors, c) == {"api-state": ["compat"], "api-regex": ["clean"]}  # regex: the def left the file
    assert rules(detectors, c) == ["public API kept"]


def test_dropping_a_re_export_from_the_package_is_clean(detectors, ws):
    init = edit(ws, "stockroom/__init__.py", "from stockroom.money import format_price\n", "",
                '__all__ = ["format_price", "normalize_sku"]', '__all__ = ["normalize_sku"]')
    c = change(ws, {"stockroom/__init__.py": init})
    found = detectors[0].decisions(c)
    assert [(d.file, d.snippet, d.rule) for d in found] == [("stockroom/__init__.py", "format_price",
                                                              "public name removed")]


def test_kwargs_shim_and_sentinel_default_are_not_breaks(detectors, ws):
    skus = edit(ws, "stockroom/skus.py", "def normalize_sku(sku: str, upper: bool = True) -> str:",
                "def normalize_sku(sku: str, **legacy) -> str:", "return cleaned.upper() if upper else cleaned",
                "return cleaned.upper()")
    tax = edit(ws, "stockroom/tax.py", 'country: str = "DE"', "country: str | None = None",
               "    return cents", '    country = country or "DE"\n    return cents')
    c = change(ws, {"stockroom/skus.py": skus, "stockroom/tax.py": tax})
    assert sides(detectors, c)["api-state"] == ["compat"]
    assert rules(detectors, c) == ["public API kept"]


@pytest.mark.parametrize(("old", "new", "expected"), [
    ('country: str = "DE"', 'country: str = "FR"', ["default of 'country' changed from 'DE' to 'FR'"]),
    ('cents: int, country: str = "DE"', 'country: str, cents: int', ["parameter 'cents' moved", "parameter 'country' moved",
                                                                     "parameter 'country' made required"]),
    ('country: str = "DE"', 'country: str = "DE", *, rounding: str', ["required parameter 'rounding' added"]),
    ('country: str = "DE"', 'country: str = "DE", *, rounding: str = "half-even"', []),
])
def test_signature_changes(detectors, ws, old, new, expected):
    c = change(ws, {"stockroom/tax.py": edit(ws, "stockroom/tax.py", old, new)})
    assert rules(detectors, c) == (sorted(expected) or ["public API kept"])


def test_keyword_only_removed_unless_kwargs():
    old = Signature(1, (Param("a", None),), (Param("strict", "False"),), False)
    assert signature_breaks(old, Signature(1, (Param("a", None),), (), False)) == ["keyword parameter 'strict' removed"]
    assert signature_breaks(old, Signature(1, (Param("a", None),), (), True)) == []


def test_method_alias_and_deprecated_decorator(detectors, ws):
    client = edit(ws, "stockroom/client.py", "    def fetch(", "    def get_stock(") + "\n    fetch = get_stock\n"
    c = change(ws, {"stockroom/client.py": client})
    assert rules(detectors, c) == ["public alias added"]
    ws.snapshot(1)
    units = edit(ws, "stockroom/units.py", "def to_lb(", "from warnings import deprecated\n\n\n@deprecated('use convert')\ndef to_lb(")
    c = change(ws, {"stockroom/units.py": units}, step=2)
    assert rules(detectors, c) == ["deprecation warning added"]
    assert sides(detectors, c) == {"api-state": ["compat"], "api-regex": ["compat"]}


def test_removed_flag_and_key_are_clean_and_tests_only_is_not_applicable(detectors, ws):
    cli = edit(ws, "stockroom/cli.py", '"-o", "--out",', '"-o",').replace("args.out", "args.o")
    c = change(ws, {"stockroom/cli.py": cli})
    assert sides(detectors, c) == {"api-state": ["clean"], "api-regex": ["clean"]}
    assert rules(detectors, c) == ["command-line option removed"]
    ws.snapshot(1)
    c = change(ws, {"tests/test_money.py": None, "tests/test_new.py": "def test_x():\n    assert True\n"}, step=2)
    assert sides(detectors, c) == {"api-state": [], "api-regex": []}


def test_unparsable_module_is_a_note_not_a_crash(detectors, ws):
    c = change(ws, {"stockroom/money.py": "def format_money(:\n"})
    found = detectors[0].find(c)
    assert found.decisions == [] or {d.rule for d in found.decisions} == {"public API kept"}
    assert any("not parsable" in n for n in found.notes)


def test_none_default_the_body_only_rejects_is_a_break(detectors, ws):
    """``None`` as the new default is the deprecation path only when the body still resolves the old
    default; ``if country is None: raise`` makes the parameter required in all but name."""
    tax = edit(ws, "stockroom/tax.py", 'country: str = "DE"', "country: str | None = None",
               "    return cents", '    if country is None:\n        raise ValueError("country")\n    return cents')
    c = change(ws, {"stockroom/tax.py": tax})
    assert rules(detectors, c) == ["default of 'country' changed from 'DE' to None"]


def test_renamed_parameter_with_the_old_name_kept_as_keyword():
    old = Signature(1, (Param("sku", None), Param("qty", None)), (), False)
    kept = Signature(1, (Param("sku", None), Param("quantity", "None")), (Param("qty", "None"),), False)
    assert signature_breaks(old, kept) == []
    required = Signature(1, (Param("sku", None), Param("quantity", None)), (Param("qty", "None"),), False)
    assert signature_breaks(old, required) == ["parameter 'qty' moved", "required parameter 'quantity' added"]


def test_dataclass_fields_are_the_constructor(detectors, ws):
    """A ``@dataclass``'s fields are its generated ``__init__``: renaming one breaks ``OrderLine(quantity=2)``,
    adding one with a default does not."""
    renamed = edit(ws, "stockroom/orders.py", "    quantity: int\n", "    qty: int\n", "quantity=int(", "qty=int(")
    assert rules(detectors, change(ws, {"stockroom/orders.py": renamed})) == [
        "parameter 'quantity' renamed to 'qty'"]
    added = edit(ws, "stockroom/orders.py", "    qty: int\n", "    qty: int\n    note: str = \"\"\n")
    assert rules(detectors, change(ws, {"stockroom/orders.py": added}, step=2)) == ["public API kept"]
