"""Backend ``local``: the embedded GGUF model, served in-process by llama.cpp, offline.

What it does with a request (details in ``docs/local-model.md``):

- renders the messages with the model's own chat template (Qwen2.5 ChatML with its ``<tools>`` block,
  ``<tool_call>`` calls and ``<tool_response>`` results) — ``goaldrift.localmodel.chat``;
- with ``tools``, constrains decoding with a grammar built from them (one branch per tool, arguments
  valid against its parameters schema, plus a plain-text branch unless ``tool_choice`` is
  ``"required"`` or names a tool) and returns the calls as real OpenAI ``tool_calls`` —
  ``goaldrift.localmodel.toolgrammar``;
- keeps each route's KV cache across turns (and across interleaved requests such as OpenCode's title
  request) — ``goaldrift.localmodel.engine``;
- runs inference on one worker thread (requests queue; the event loop never blocks) and streams
  content as it is decoded (tool calls at the end, once complete).

The final chunk carries ``usage`` with ``prompt_tokens_details.cached_tokens`` (prompt tokens served
from the KV cache, i.e. *not* re-processed) and a ``goaldrift`` object with the effective sampling
settings (temperature, seed, ...), the model file's sha256 and timings. Every chunk carries a
``system_fingerprint`` naming the model file, temperature and seed.

Settings (``ModelSpec``): ``model`` = a pinned model name or a GGUF path (default: the pinned
Qwen2.5-Coder-1.5B); ``temperature`` (default 0.2), ``seed`` (default: a fresh random seed per call,
recorded), ``max_tokens`` (cap per reply, default 4096); ``params``: see ``PARAMS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from goaldrift.errors import BackendError, ConfigError
from goaldrift.gateway import chunks
from goaldrift.gateway.backends.base import CallContext
from goaldrift.localmodel.chat import TOOL_CALL_CLOSE, TOOL_CALL_OPEN
from goaldrift.localmodel.engine import EngineConfig, GenStats, LocalEngine, Sampling, Veto
from goaldrift.localmodel.files import DEFAULT_MODEL, MODELS, cache_dir, resolve_model
from goaldrift.localmodel.prefixcache import PrefixCache
from goaldrift.localmodel.repeats import failed, with_repeat_notes
from goaldrift.localmodel.toolgrammar import (
    ToolMode,
    build_grammar,
    holdback,
    parse_calls,
    salvage_calls,
    tool_mode,
)
from goaldrift.localmodel.toolscope import scoped_tools, visible_tools
from goaldrift.markup import completes_forbidden
from goaldrift.modelspec import ModelSpec

DEFAULT_TEMPERATURE = 0.2
DEFAULT_MAX_TOKENS = 4096

PARAMS: dict[str, tuple[type, Any, str]] = {
    "n_ctx": (int, 32768, "context window in tokens; must hold a whole agent session"),
    "n_threads": (int, 0, ("CPU threads (0: every core this process may use; generation drops to 1 thread while "
                           "the load average exceeds twice the cores)")),
    "n_batch": (int, 512, "prompt tokens per llama.cpp batch"),
    "flash_attn": (bool, False, "llama.cpp flash attention"),
    "snapshot_budget_mb": (int, 4096, "RAM for saved KV states of inactive sessions (LRU)"),
    "max_tool_calls": (int, 1, ("most tool calls in one reply (parallel calls: > 1; the request's "
                                "parallel_tool_calls=false always means 1)")),
    "top_p": (float, 0.95, "nucleus sampling"),
    "top_k": (int, 40, "top-k sampling"),
    "min_p": (float, 0.05, "min-p sampling"),
    "repeat_penalty": (float, 1.0, "llama.cpp repetition penalty over the last 64 tokens (1.0: off)"),
    "salvage_text_calls": (bool, True, "turn a tool call printed in a ```json block into a real call (recorded)"),
    "sha256": (str, None, "expected sha256 of a user-supplied GGUF (checked once)"),
    "work_first": (int, 0, ("small-model aid, off by default: force a tool call (tool_choice 'auto' -> "
                            "'required') until the current request (since the last user message) has "
                            "reached work_first_until, for at most this many calls; recorded per call")),
    "work_first_until": (str, "write", ("what ends work_first: 'write' (a successful write/edit call) or 'call' "
                                        "(any tool call: no free-text answer before the first tool call)")),
    "refuse_placeholders": (bool, True, ("never decode chat-template markup (<|im_end|>, <tool_response>, ...) or a "
                                          "string argument made only of placeholder tags (<file-content>) in a "
                                          "reply to a request with tools; recorded as goaldrift.vetoed_tokens")),
    "refuse_slots": (bool, False, ("small-model aid: never decode a string argument that opens with a slot such as "
                                   "<your code here>, <path/to/file.py> or a markdown fence (see goaldrift.markup); recorded per call")),
    "repeat_note": (bool, False, ("small-model aid: the result of a call that repeats an earlier failed call of "
                                  "the request is shown to the model with a note saying so; recorded per call")),
    "prefix_cache_mb": (int, 2048, ("disk budget for the KV state of prompts' first turn (system prompt + tools), "
                                    "reused across runs and processes; 0: off")),
    "hidden_tools": (list, [], ("small-model aid: tools the model never sees nor calls (e.g. [edit]: only "
                                "whole-file writes remain); recorded per call")),
    "constrain_paths": (bool, False, ("small-model aid: path arguments may only name existing files of the run's "
                                      "workspace, or a new file under an existing directory for a writing tool "
                                      "(grammar only, the prompt is unchanged); recorded per call")),
}

WRITE_TOOLS = frozenset({"write", "edit", "write_file", "edit_file", "apply_patch", "patch"})
_WROTE = re.compile(r"(?i)\b(success\w*|applied|wrote|written|edited|created)\b")


def work_first_applies(request: dict[str, Any], budget: int, until: str = "write") -> bool:
    """Whether the ``work_first`` aid turns this ``auto`` request into ``required``.

    Small models tend to answer a coding request by printing code as text, which ends an agent's
    turn with nothing changed. Until the model has reached ``until`` in answer to the latest user
    message — ``write``: a write/edit call whose result is not an error; ``call``: any tool call (no
    free-text answer first, e.g. for a harness whose edits are text) — and for at most ``budget``
    calls, the reply must be a tool call. Which tool, and what it writes, stay the model's choice; the
    decision a detector judges is never forced.
    """
    if budget <= 0 or not request.get("tools") or request.get("tool_choice", "auto") not in (None, "auto"):
        return False
    messages = request.get("messages") or []
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=-1)
    since = messages[last_user + 1:]
    calls = [tc for m in since if m.get("role") == "assistant" for tc in m.get("tool_calls") or []]
    if until == "call":
        return not calls
    results = {m.get("tool_call_id"): str(m.get("content") or "") for m in since if m.get("role") == "tool"}
    wrote = any((tc.get("function") or {}).get("name") in WRITE_TOOLS and tc.get("id") in results
                and _WROTE.search(results[tc["id"]]) and not failed(results[tc["id"]]) for tc in calls)
    return not wrote and len(calls) < budget

_DONE = object()


def _engine_version() -> str:
    """llama-cpp-python's version (part of the disk cache key: its state format may change)."""
    import importlib.metadata

    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return "missing"


def _params(spec: ModelSpec) -> dict[str, Any]:
    unknown = sorted(set(spec.params) - set(PARAMS))
    if unknown:
        raise ConfigError(f"model {spec.id!r}: unknown params {unknown} for the local backend; "
                          f"known: {', '.join(PARAMS)}")
    out = {}
    for key, (typ, default, _doc) in PARAMS.items():
        value = spec.params.get(key, default)
        if value is not None and not (isinstance(value, typ) or (typ is float and isinstance(value, int))):
            raise ConfigError(f"model {spec.id!r}: params.{key} must be {typ.__name__}, got {value!r}")
        out[key] = value
    if out["work_first_until"] not in ("write", "call"):
        raise ConfigError(f"model {spec.id!r}: params.work_first_until must be 'write' or 'call'")
    if not all(isinstance(t, str) for t in out["hidden_tools"]):
        raise ConfigError(f"model {spec.id!r}: params.hidden_tools must be a list of tool names")
    if out["n_ctx"] < 512:
        raise ConfigError(f"model {spec.id!r}: params.n_ctx must be at least 512")
    return out


class _ReplySplitter:
    """Splits decoded text into content (streamed as soon as it cannot be the start of a tool call)
    and the tool-call tail (parsed when the reply is complete)."""

    def __init__(self, mode: ToolMode, stop: list[str]):
        self.calls_allowed = mode.calls_allowed
        self.stop = stop
        self.buf = ""
        self.emitted = 0
        self.calls_at: int | None = None
        self.stopped = False

    def feed(self, text: str) -> str:
        if self.stopped:
            return ""
        self.buf += text
        if self.calls_at is not None:
            return ""
        if self.calls_allowed:
            i = self.buf.find(TOOL_CALL_OPEN, max(0, self.emitted - len(TOOL_CALL_OPEN)))
            if i >= 0:
                self.calls_at = i
                end = i - 1 if i > 0 and self.buf[i - 1] == "\n" else i
                return self._emit_to(max(end, self.emitted))
        for s in self.stop:
            j = self.buf.find(s, max(0, self.emitted - len(s)))
            if j >= 0:
                self.stopped = True
                return self._emit_to(j)
        hold = 0
        if self.calls_allowed:
            hold = max(holdback(self.buf, "\n" + TOOL_CALL_OPEN), holdback(self.buf, TOOL_CALL_OPEN))
        for s in self.stop:
            hold = max(hold, holdback(self.buf, s))
        return self._emit_to(len(self.buf) - hold)

    def _emit_to(self, end: int) -> str:
        out = self.buf[self.emitted:end] if end > self.emitted else ""
        self.emitted = max(self.emitted, end)
        return out

    def finish(self, cut: bool = False) -> tuple[str, list[tuple[str, str]] | None]:
        """Remaining content and the parsed calls (``None``: no calls, or an unparseable call tail,
        which is then part of the content). ``cut``: the reply hit max_tokens; complete calls count
        and a cut-off last call is dropped."""
        if self.calls_at is None:
            return ("" if self.stopped else self._emit_to(len(self.buf))), None
        calls = parse_calls(self.buf[self.calls_at:], allow_cut_tail=cut)
        if calls is None:
            return self._emit_to(len(self.buf)), None
        return "", calls


class LocalBackend:
    """The embedded model behind the gateway (see the module docstring)."""

    name = "local"

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        self.model = spec.id
        self.params = _params(spec)
        self.model_path = resolve_model(spec.model, sha256=self.params["sha256"])
        pinned = MODELS.get(spec.model or DEFAULT_MODEL)
        self.model_sha256 = pinned.sha256 if pinned else self.params["sha256"]
        self.model_file = self.model_path.name
        prefix = None
        if self.params["prefix_cache_mb"] > 0:
            st = self.model_path.stat()
            model_key = self.model_sha256 or f"{self.model_path.resolve()}:{st.st_size}:{st.st_mtime_ns}"
            engine_key = (f"{model_key}|flash_attn={self.params['flash_attn']}"
                          f"|llama-cpp-python={_engine_version()}")
            prefix = PrefixCache(cache_dir().parent / "kv", engine_key, self.params["prefix_cache_mb"])
        self.engine = LocalEngine(self.model_path, EngineConfig(
            n_ctx=self.params["n_ctx"], n_threads=self.params["n_threads"], n_batch=self.params["n_batch"],
            flash_attn=self.params["flash_attn"], snapshot_budget_mb=self.params["snapshot_budget_mb"]), prefix)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"goaldrift-local-{spec.id}")
        self._lock = asyncio.Lock()  # FIFO queue of requests; the single worker thread also serialises
        self._closed = False

    # ------------------------------------------------------------ request → job

    def _sampling(self, request: dict[str, Any], route_seed: int | None = None) -> Sampling:
        temperature = self.spec.temperature
        if temperature is None:
            temperature = request.get("temperature")
        if temperature is None:
            temperature = DEFAULT_TEMPERATURE
        seed = route_seed if route_seed is not None else self.spec.seed
        if seed is None:
            seed = request.get("seed")
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        cap = self.spec.max_tokens or DEFAULT_MAX_TOKENS
        asked = request.get("max_completion_tokens") or request.get("max_tokens") or cap
        top_p = request.get("top_p") if request.get("top_p") is not None else self.params["top_p"]
        return Sampling(temperature=float(temperature), top_p=float(top_p), top_k=int(self.params["top_k"]),
                        min_p=float(self.params["min_p"]), seed=int(seed) & 0xFFFFFFFF,
                        max_tokens=max(1, min(int(asked), cap)),
                        repeat_penalty=float(self.params["repeat_penalty"]))

    def fingerprint(self, s: Sampling) -> str:
        return f"local:{self.model_file}:{(self.model_sha256 or 'unpinned')[:12]}:t{s.temperature:g}:s{s.seed}"

    # ------------------------------------------------------------ the worker-thread part

    def _run(self, request: dict[str, Any], slot: str, mode: ToolMode, sampling: Sampling,
             emit: Any, cancel: threading.Event, workspace: Path | None) -> tuple[GenStats, str]:
        with self.engine.lock:
            hidden = [] if mode.kind == "named" else self.params["hidden_tools"]
            tools = visible_tools(request.get("tools") or [], hidden) or None
            callable_tools = tools or []
            if self.params["constrain_paths"] and workspace is not None:
                callable_tools = scoped_tools(callable_tools, workspace)
            max_calls = self.params["max_tool_calls"] if request.get("parallel_tool_calls", True) else 1
            open_token = self.engine.single_token(TOOL_CALL_OPEN)
            close_token = self.engine.single_token(TOOL_CALL_CLOSE)
            gbnf = build_grammar(callable_tools, mode, max_calls=max(1, max_calls),
                                 open_token=open_token, close_token=close_token)
            veto = None
            # only where the call markers are single tokens: spelled out, they would veto themselves
            if gbnf and self.params["refuse_placeholders"] and open_token is not None and close_token is not None:
                slots = self.params["refuse_slots"]
                veto = Veto(lambda before, piece: completes_forbidden(before, piece, slots=slots),
                            frozenset({open_token, close_token}))
            prompt_text = self.engine.render(request.get("messages") or [], tools)
            prompt = self.engine.tokenize(prompt_text)
            return self.engine.generate(slot, prompt, gbnf, sampling, emit, cancel, veto), gbnf or ""

    # ------------------------------------------------------------ the Backend protocol

    async def stream(self, request: dict[str, Any], ctx: CallContext) -> AsyncIterator[dict[str, Any]]:
        if (request.get("n") or 1) != 1:
            raise BackendError("the local backend returns one choice per request (n=1)")
        forced = work_first_applies(request, self.params["work_first"], self.params["work_first_until"])
        notes = 0
        if self.params["repeat_note"]:
            messages, notes = with_repeat_notes(request.get("messages") or [])
            request = {**request, "messages": messages}
        workspace = getattr(ctx.route.context, "workspace", None)  # set by the runner (ScriptContext)
        workspace = Path(workspace) if workspace and self.params["constrain_paths"] else None
        mode = tool_mode({**request, "tool_choice": "required"} if forced else request)
        sampling = self._sampling(request, ctx.route.seed)
        stop = request.get("stop") or []
        stop = [stop] if isinstance(stop, str) else [s for s in stop if s]
        slot = f"{ctx.route.token}:{'tools' if mode.kind != 'off' else 'chat'}"
        ctx.route.state["local_slot"] = slot
        splitter = _ReplySplitter(mode, stop)
        cid, fp = chunks.new_id(), self.fingerprint(sampling)

        def mk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            c = chunks.chunk(cid, self.model, delta, finish)
            c["system_fingerprint"] = fp
            return c

        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        cancel = threading.Event()

        def on_text(text: str) -> None:
            out = splitter.feed(text)
            if splitter.stopped:
                cancel.set()
            if out:
                loop.call_soon_threadsafe(queue.put_nowait, out)

        async with self._lock:
            fut = loop.run_in_executor(self._executor, self._run, request, slot, mode, sampling, on_text, cancel,
                                     workspace)
            fut.add_done_callback(lambda _f: loop.call_soon_threadsafe(queue.put_nowait, _DONE))
            try:
                yield mk({"role": "assistant", "content": ""})
                while True:
                    item = await queue.get()
                    if item is _DONE:
                        break
                    yield mk({"content": item})
                stats, gbnf = fut.result()  # re-raises a worker error
            finally:
                cancel.set()  # the client went away or we failed: stop decoding, then free the model
                if not fut.done():
                    with contextlib.suppress(BaseException):  # already failing: the worker's error is secondary
                        await asyncio.shield(fut)

        content, calls = splitter.finish(cut=stats.finish_reason == "length")
        salvaged = False
        if calls is None and mode.kind == "auto" and self.params["salvage_text_calls"]:
            offered = visible_tools(request.get("tools") or [], self.params["hidden_tools"])
            got = salvage_calls(splitter.buf, {t["function"]["name"] for t in offered})
            if got is not None:
                salvaged = True
                calls = got[1]
                content = "" if splitter.emitted else got[0]
        if content:
            yield mk({"content": content})
        for i, (name, args) in enumerate(calls or []):
            call = chunks.tool_call(name, args)
            yield mk({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                                      "function": {"name": name, "arguments": ""}}]})
            yield mk({"tool_calls": [{"index": i, "function": {"arguments": args}}]})
        finish = "tool_calls" if calls else ("length" if stats.finish_reason == "length" else "stop")
        yield mk({}, finish)
        use: dict[str, Any] = dict(chunks.usage(stats.prompt_tokens, stats.completion_tokens))
        use["prompt_tokens_details"] = {"cached_tokens": stats.cached_tokens}
        final = mk({})
        final["choices"] = []
        final["usage"] = use
        final["goaldrift"] = {
            "backend": "local", "model_file": self.model_file, "model_sha256": self.model_sha256,
            "temperature": sampling.temperature, "seed": sampling.seed, "top_p": sampling.top_p,
            "top_k": sampling.top_k, "min_p": sampling.min_p, "max_tokens": sampling.max_tokens,
            "repeat_penalty": sampling.repeat_penalty,
            "n_ctx": self.engine.config.n_ctx, "tool_mode": mode.kind + (f":{mode.tool}" if mode.tool else ""),
            "constrained": bool(gbnf), "prompt_eval_tokens": stats.evaluated_tokens,
            "prompt_eval_s": round(stats.prompt_eval_s, 4), "generation_s": round(stats.generation_s, 4),
            "grammar_resamples": stats.grammar_resamples, "vetoed_tokens": stats.vetoed,
            "generation_threads": stats.generation_threads,
            "tool_calls_from_text": salvaged,
            "kv_state": stats.state_source, "kv_switch_s": round(stats.slot_switch_s, 4),
            "kv_disk": stats.prefix_disk,
            "work_first_forced": forced,
            "hidden_tools": list(self.params["hidden_tools"]), "paths_constrained": workspace is not None,
            "refuse_slots": self.params["refuse_slots"], "repeat_notes": notes,
        }
        yield final

    async def aclose(self) -> None:
        """Free the model; idempotent (the gateway and the backend's owner may both close it)."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self.engine.close)
        self._executor.shutdown(wait=False)
