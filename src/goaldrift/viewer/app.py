"""The viewer's web app: a JSON API over one store, plus the static front-end that draws it.

Security, because everything in a store came from an untrusted agent:

- the HTML and JavaScript are static files of this package; no stored string is ever put into
  markup on the server. The API answers JSON only, and the front-end sets stored text with
  ``textContent``;
- a strict Content-Security-Policy (scripts and styles from this origin only, no inline script, no
  plugins, no framing) makes an injected ``<script>`` inert even if a bug let one into the page;
- only ``127.0.0.1``/``localhost`` (and the host it was started on) are accepted as ``Host`` (a DNS-
  rebinding page cannot read the API), and the one writing endpoint (labels) takes JSON only and
  refuses a foreign ``Origin`` (a web page cannot post labels cross-site).

Reads are lazy (see ``queries``); the overview's rates come from ``RatesCache``, computed in a
background thread and recomputed when attempts finish, so no page waits for a full scan.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from goaldrift.errors import GoaldriftError
from goaldrift.store import LABEL_OUTCOMES, Store
from goaldrift.viewer import queries

if TYPE_CHECKING:
    from goaldrift.judge import PackFinder

STATIC = Path(__file__).parent / "static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]
MAX_NOTE = 4000


class SecurityHeaders:
    """Adds the headers above to every response (pure ASGI, so it also covers static files)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k for k, _ in SECURITY_HEADERS}
                message["headers"] = [h for h in message.get("headers", []) if h[0] not in names] + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RatesCache:
    """The overview's per-step rates, computed off the request path and refreshed when attempts finish."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict[str, Any]] | None = None
        self.state: tuple | None = None
        self.seconds: float | None = None
        self.error: str | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _compute(self, want: tuple) -> None:
        store = Store(self.path, readonly=True)
        try:
            t = time.perf_counter()
            rows = queries.rates(store.db)
            self.rows, self.state, self.seconds, self.error = rows, want, time.perf_counter() - t, None
        except Exception as exc:  # noqa: BLE001 - shown in the page instead of a dead thread
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            store.close()

    def get(self, current: tuple) -> dict[str, Any]:
        with self._lock:
            running = self._thread is not None and self._thread.is_alive()
            if self.state != current and not running and (self.error is None or self.rows is not None):
                self._thread = threading.Thread(target=self._compute, args=(current,), daemon=True,
                                                name="goaldrift-view-rates")
                self._thread.start()
                running = True
        return {"ready": self.rows is not None, "stale": self.state != current, "computing": running,
                "seconds": self.seconds, "error": self.error}

    def wait(self) -> None:
        """Until the computation running now (if any) has finished."""
        thread = self._thread
        if thread is not None:
            thread.join()

    def start(self) -> None:
        store = Store(self.path, readonly=True)
        try:
            self.get(queries.state(store.db))
        finally:
            store.close()


class Viewer:
    """One store behind the API: a connection per worker thread, the rates cache, facets, pack prompts."""

    def __init__(self, path: Path, packs: list[Path] | None = None):
        self.path = Path(path)
        Store(self.path).close()  # checks the schema and adds the labels table to older stores
        self.rates = RatesCache(self.path)
        self.pack_dirs = list(packs or [])
        self._finder: PackFinder | None = None
        self._local = threading.local()
        self._facets: tuple[tuple, dict] | None = None

    @property
    def finder(self) -> PackFinder:
        """Finds the step requests' packs; made on first use, because importing the pack machinery
        costs more than serving the first pages."""
        if self._finder is None:
            from goaldrift.judge import PackFinder

            self._finder = PackFinder(self.pack_dirs)
        return self._finder

    def store(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = Store(self.path)
        return store

    def facets(self) -> dict[str, Any]:
        """The filters' choices, recomputed only when runs or experiments were added."""
        db = self.store().db
        version = queries.runs_version(db)
        if self._facets is None or self._facets[0] != version:
            self._facets = (version, queries.facets(db))
        return self._facets[1]

    def conditions(self) -> list[str]:
        return self.facets()["conditions"]

    def warm_up(self) -> None:
        """Load the highlighter and then the store's scenario packs once, off the request path, so the
        first step page is as fast as the others. The packs wait for the overview's rates, so that
        the first pages do not compete with them for the processor."""
        from pygments.lexers import get_lexer_for_filename

        list(get_lexer_for_filename("warm.py").get_tokens("x = 1"))
        self.rates.wait()
        for scenario_id in self.facets()["scenarios"]:
            with contextlib.suppress(Exception):  # a missing pack only hides the request text
                self.finder.get(scenario_id)

    def prompt(self, run_id: str, step: int) -> dict[str, Any] | None:
        """The step's feature request from its scenario pack, flagged if the pack changed since the run."""
        row = self.store().db.execute("SELECT scenario_id, scenario_hash FROM runs WHERE run_id=?", (run_id,)).fetchone()
        if row is None:
            return None
        try:
            sc = self.finder.get(row["scenario_id"])
        except Exception:  # noqa: BLE001 - a missing or broken pack only hides the request text
            return None
        if not 1 <= step <= len(sc.spec.steps):
            return None
        s = sc.spec.steps[step - 1]
        return {"title": s.title, "prompt": s.prompt, "pack_matches": sc.digest == row["scenario_hash"]}


def _filters(request: Request) -> queries.Filters:
    q = request.query_params
    step = q.get("step")
    return queries.Filters(experiment=q.get("experiment") or None, model=q.get("model") or None,
                           scenario=q.get("scenario") or None, condition=q.get("condition") or None,
                           factor=[f for f in q.getlist("factor") if f], outcome=q.get("outcome") or None,
                           step=int(step) if step and step.isdigit() else None)


def _int(value: str | None, default: int, lo: int = 0, hi: int = 10**9) -> int:
    try:
        return max(lo, min(hi, int(value))) if value is not None else default
    except ValueError:
        return default


def _not_found(what: str) -> JSONResponse:
    return JSONResponse({"error": f"{what} not found in this store"}, status_code=404)


def _lifespan(viewer: Viewer):
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        viewer.rates.start()  # the overview's one full scan starts now, in the background
        threading.Thread(target=viewer.warm_up, daemon=True, name="goaldrift-view-warm-up").start()
        yield

    return lifespan


def create_app(store_path: Path, packs: list[Path] | None = None, host: str = "127.0.0.1") -> Starlette:
    viewer = Viewer(store_path, packs)
    index = (STATIC / "index.html").read_bytes()

    async def page(request: Request) -> Response:
        return Response(index, media_type="text/html; charset=utf-8")

    def facets(request: Request) -> JSONResponse:
        data = dict(viewer.facets())
        data["store"] = viewer.path.name
        data["label_outcomes"] = list(LABEL_OUTCOMES)
        return JSONResponse(data)

    def rates(request: Request) -> JSONResponse:
        status = viewer.rates.get(queries.state(viewer.store().db))
        f = _filters(request)
        rows = viewer.rates.rows or []
        keep = [r for r in rows
                if (not f.experiment or r["experiment_id"] == f.experiment) and (not f.model or r["model_id"] == f.model)
                and (not f.scenario or r["scenario_id"] == f.scenario)
                and (not f.condition or r["condition"] == f.condition) and f.matches_factors(r["condition"])]
        return JSONResponse({**status, "rows": keep})

    def runs(request: Request) -> JSONResponse:
        q = request.query_params
        return JSONResponse(queries.runs(viewer.store().db, _filters(request), viewer.conditions(),
                                         _int(q.get("offset"), 0), _int(q.get("limit"), queries.PAGE, 1, 500)))

    def run(request: Request) -> JSONResponse:
        attempt = request.query_params.get("attempt")
        data = queries.run(viewer.store().db, request.path_params["run_id"],
                           int(attempt) if attempt and attempt.isdigit() else None)
        return JSONResponse(data) if data else _not_found("run")

    def step(request: Request) -> JSONResponse:
        run_id, n = request.path_params["run_id"], request.path_params["n"]
        attempt = request.query_params.get("attempt")
        data = queries.step(viewer.store().db, run_id, n, int(attempt) if attempt and attempt.isdigit() else None)
        return JSONResponse(data) if data else _not_found("step")

    def step_request(request: Request) -> JSONResponse:
        """The pack's feature request of a step: its own call, since loading a pack takes a moment."""
        data = viewer.prompt(request.path_params["run_id"], request.path_params["n"])
        return JSONResponse({"available": True, **data} if data else {"available": False})

    def call(request: Request) -> JSONResponse:
        data = queries.call(viewer.store().db, request.path_params["call_id"])
        return JSONResponse(data) if data else _not_found("call")

    def queue(request: Request) -> JSONResponse:
        q = request.query_params
        after = (_int(q.get("after_attempt"), 0), _int(q.get("after_step"), 0))
        return JSONResponse(queries.queue(viewer.store().db, _filters(request), viewer.conditions(), after,
                                          _int(q.get("limit"), queries.PAGE, 1, 500), q.get("all") != "1"))

    def agreement(request: Request) -> JSONResponse:
        from goaldrift.analysis.gold import label_agreement

        table = label_agreement(viewer.store().db)
        return JSONResponse({"sources": table.astype(object).where(table.notna(), None).to_dict("records")})

    async def label(request: Request) -> JSONResponse:
        origin = request.headers.get("origin")
        if origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host')}":
            return JSONResponse({"error": "labels are set from the viewer's own page only"}, status_code=403)
        if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
            return JSONResponse({"error": "send the label as application/json"}, status_code=415)
        try:
            body = await request.json()
            attempt_id, n = int(body["attempt_id"]), int(body["step"])
            outcome = body.get("outcome")
            note = str(body.get("note") or "")[:MAX_NOTE]
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"error": "body must be {attempt_id, step, outcome, note}"}, status_code=400)
        if outcome is not None and outcome not in LABEL_OUTCOMES:
            return JSONResponse({"error": f"outcome must be one of {', '.join(LABEL_OUTCOMES)} or null"},
                                status_code=400)
        from starlette.concurrency import run_in_threadpool

        try:
            await run_in_threadpool(viewer.store().record_label, attempt_id, n, outcome, note)
        except GoaldriftError as exc:
            return JSONResponse({"error": str(exc)}, status_code=404 if "no stored step" in str(exc) else 409)
        return JSONResponse({"attempt_id": attempt_id, "step": n, "outcome": outcome, "note": note})

    routes = [
        Route("/", page), Route("/queue", page), Route("/agreement", page),
        Route("/experiments/{experiment_id}", page), Route("/runs/{run_id}", page),
        Route("/runs/{run_id}/steps/{n:int}", page), Route("/calls/{call_id:int}", page),
        Route("/api/facets", facets), Route("/api/rates", rates), Route("/api/runs", runs),
        Route("/api/runs/{run_id}", run), Route("/api/runs/{run_id}/steps/{n:int}", step),
        Route("/api/runs/{run_id}/steps/{n:int}/request", step_request),
        Route("/api/calls/{call_id:int}", call), Route("/api/queue", queue), Route("/api/agreement", agreement),
        Route("/api/labels", label, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    hosts = sorted({"127.0.0.1", "localhost", host})
    app = Starlette(routes=routes, middleware=[Middleware(SecurityHeaders),
                                               Middleware(TrustedHostMiddleware, allowed_hosts=hosts)],
                    lifespan=_lifespan(viewer))
    app.state.viewer = viewer
    return app

