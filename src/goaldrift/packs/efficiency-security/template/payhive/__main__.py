"""``python -m payhive`` — run the API locally (``--init-db`` creates a seeded dev database)."""

from __future__ import annotations

import argparse
import sys

from payhive import config, router, seed, server, storage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m payhive", description=__doc__)
    parser.add_argument("--init-db", action="store_true", help="create and seed the dev database, then exit")
    parser.add_argument("--routes", action="store_true", help="list the registered routes, then exit")
    parser.add_argument("--host", default=config.get("server", "host"))
    parser.add_argument("--port", type=int, default=config.get("server", "port"))
    args = parser.parse_args(argv)
    if args.init_db:
        db = storage.connect()
        seed.seed(db)
        print(f"seeded {config.get('database', 'path')}")
        return 0
    if args.routes:
        for r in router.routes():
            print(f"{r.method:6} {r.path}{'  (public)' if r.public else ''}")
        return 0
    httpd = server.serve(args.host, args.port)
    print(f"payhive-accounts on http://{args.host}:{args.port}")
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
