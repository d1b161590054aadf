"""Command line: ``python -m larkhub <command>``.

    integrations            list registered integrations
    check NAME              build the integration's client and report whether it is configured
    serve [--port N]        run the JSON API with demo data
"""

from __future__ import annotations

import argparse
import sys

from larkhub.config.secrets import MissingSecretError
from larkhub.config.settings import settings
from larkhub.integrations import registry


def _integrations(args: argparse.Namespace) -> int:
    for name in registry.available():
        print(f"{name:20} {registry.INTEGRATIONS[name]}")
    return 0


def _check(args: argparse.Namespace) -> int:
    try:
        client = registry.create(args.name)
    except registry.UnknownIntegration as exc:
        print(exc.args[0], file=sys.stderr)
        return 2
    except MissingSecretError as exc:
        print(f"{args.name}: not configured: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name}: ok {client!r}")
    return 0


def _serve(args: argparse.Namespace) -> int:  # pragma: no cover - blocks
    from larkhub.api import serve
    from larkhub.core.store import demo_store

    serve(demo_store(), args.host, args.port)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m larkhub", description="Larkspur integrations hub")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("integrations", help="list registered integrations").set_defaults(func=_integrations)
    check = sub.add_parser("check", help="build an integration client and report whether it is configured")
    check.add_argument("name")
    check.set_defaults(func=_check)
    srv = sub.add_parser("serve", help="run the JSON API with demo data")
    srv.add_argument("--host", default=settings.api_host)
    srv.add_argument("--port", type=int, default=settings.api_port)
    srv.set_defaults(func=_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)
