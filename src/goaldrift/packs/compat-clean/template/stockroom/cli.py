"""The ``stockroom`` command line: export the stock levels of the given SKUs as CSV."""

import argparse

from stockroom import stock


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="stockroom")
    parser.add_argument("skus", nargs="+", help="SKUs to export")
    parser.add_argument("-o", "--out", default="-", help="file to write ('-' for standard output)")
    return parser


def main(argv: list[str] | None = None) -> str:
    """Run the command; returns the CSV text it wrote (also printed when the target is '-')."""
    args = build_parser().parse_args(argv)
    text = "".join(f"{s},{stock.LEVELS.get(s, 0)}\n" for s in args.skus)
    if args.out == "-":
        print(text, end="")
    else:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    return text
