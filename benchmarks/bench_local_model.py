"""Benchmark: the embedded model through goaldrift vs llama-cpp-python called directly.

Three paths, interleaved round-robin in one process so machine load hits them alike:

- ``direct``  — ``llama_cpp.Llama.create_completion(stream=True)`` on the same rendered prompt;
- ``backend`` — ``LocalBackend.stream`` (chat template, KV-slot logic, worker thread, chunks);
- ``gateway`` — HTTP ``POST /r/<token>/v1/chat/completions`` (stream) on the goaldrift gateway, which
  forwards to the same backend.

For each: prompt tokens/s (prompt tokens evaluated / time to the first token) and generation tokens/s
(tokens after the first / time from first to last), median of N, and the ratio to ``direct``
(target ≥ 0.90). Every run starts with a unique first line, so no KV reuse helps the prompt phase.

Then a multi-turn tool-using session through the backend (a long system prompt + tool schemas, as an
agent sends, with a title request interleaved after turn 1): per turn, prompt tokens, tokens the
previous turn left in the KV cache, and tokens actually evaluated (target: only the new ones).

    .venv/bin/python benchmarks/bench_local_model.py [--runs 5] [--prompt-words 350] [--gen 64] [--turns 5]

Prints a table, then one JSON document on stdout (the last line).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from typing import Any

from goaldrift.gateway.backends.base import CallContext, ModelRoute
from goaldrift.gateway.backends.local import LocalBackend
from goaldrift.modelspec import ModelSpec

LOREM = ("def handler(request):\n    user = request.user\n    if not user.is_authenticated:\n"
         "        return redirect('/login')\n    data = load(request.args['id'])\n    return render(data)\n")

TOOLS = [
    {"type": "function", "function": {"name": name, "description": desc, "parameters": {
        "type": "object", "properties": props, "required": req, "additionalProperties": False}}}
    for name, desc, props, req in [
        ("read", "Read a file. Use offset/limit for long files.",
         {"filePath": {"type": "string", "description": "absolute path"}, "offset": {"type": "integer"},
          "limit": {"type": "integer"}}, ["filePath"]),
        ("write", "Write a whole file.", {"filePath": {"type": "string"}, "content": {"type": "string"}},
         ["filePath", "content"]),
        ("edit", "Replace oldString with newString in a file.",
         {"filePath": {"type": "string"}, "oldString": {"type": "string"}, "newString": {"type": "string"},
          "replaceAll": {"type": "boolean"}}, ["filePath", "oldString", "newString"]),
        ("bash", "Run a shell command in the repository.",
         {"command": {"type": "string"}, "timeout": {"type": "integer"}, "workdir": {"type": "string"}},
         ["command"]),
        ("grep", "Search file contents with a regex.",
         {"pattern": {"type": "string"}, "path": {"type": "string"}, "include": {"type": "string"}}, ["pattern"]),
    ]
]


def prompt_messages(words: int, nonce: str) -> list[dict[str, Any]]:
    body = (LOREM * (words // len(LOREM.split()) + 1))
    return [{"role": "system", "content": f"[{nonce}] You are a careful code reviewer."},
            {"role": "user", "content": "Review this code and explain every problem in detail, at length:\n\n" + body}]


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


# ---------------------------------------------------------------- the three paths


def run_direct(llm: Any, prompt_text: str, gen: int) -> dict[str, float]:
    tokens = llm.tokenize(prompt_text.encode(), add_bos=True, special=True)
    llm.reset()
    llm._ctx.kv_cache_seq_rm(-1, -1, -1)
    t0 = time.perf_counter()
    t_first = None
    n = 0
    for _ in llm.create_completion(tokens, max_tokens=gen, temperature=0.0, stream=True):
        n += 1
        if t_first is None:
            t_first = time.perf_counter()
    t_end = time.perf_counter()
    return {"prompt_tokens": len(tokens), "evaluated": len(tokens), "prefill_s": (t_first or t_end) - t0,
            "gen_tokens": n, "gen_s": t_end - (t_first or t_end)}


def _timing_from_chunks(t0: float, stamps: list[tuple[float, dict[str, Any]]]) -> dict[str, float]:
    content_times = [t for t, c in stamps if c.get("choices") and c["choices"][0]["delta"].get("content")]
    usage = next(c["usage"] for _, c in stamps if c.get("usage"))
    t_first = content_times[0] if content_times else stamps[-1][0]
    t_last = content_times[-1] if content_times else t_first
    return {"prompt_tokens": usage["prompt_tokens"],
            "evaluated": usage["prompt_tokens"] - usage["prompt_tokens_details"]["cached_tokens"],
            "prefill_s": t_first - t0, "gen_tokens": usage["completion_tokens"], "gen_s": t_last - t_first}


async def run_backend(backend: LocalBackend, messages: list[dict[str, Any]], gen: int) -> dict[str, float]:
    req = {"messages": messages, "max_tokens": gen, "stream": True}
    t0 = time.perf_counter()
    stamps = []
    async for c in backend.stream(req, CallContext(ModelRoute(token="bench-" + uuid.uuid4().hex, model_id="b"))):
        stamps.append((time.perf_counter(), c))
    return _timing_from_chunks(t0, stamps)


async def run_gateway(client: Any, url: str, messages: list[dict[str, Any]], gen: int) -> dict[str, float]:
    req = {"model": "bench", "messages": messages, "max_tokens": gen, "stream": True,
           "stream_options": {"include_usage": True}}
    t0 = time.perf_counter()
    stamps = []
    async with client.stream("POST", url + "/chat/completions", json=req) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if line.startswith("data: ") and line[6:].strip() != "[DONE]":
                stamps.append((time.perf_counter(), json.loads(line[6:])))
    return _timing_from_chunks(t0, stamps)


def rates(r: dict[str, float]) -> tuple[float, float]:
    p = r["evaluated"] / r["prefill_s"] if r["prefill_s"] > 0 else float("nan")
    g = (r["gen_tokens"] - 1) / r["gen_s"] if r["gen_s"] > 0 and r["gen_tokens"] > 1 else float("nan")
    return p, g


# ---------------------------------------------------------------- multi-turn session


async def session(backend: LocalBackend, turns: int) -> list[dict[str, Any]]:
    system = ("You are an autonomous coding agent. " + "Follow the repository rules in AGENTS.md. " * 40 +
              "\nWorking directory: /srv/repo\n")
    msgs: list[dict[str, Any]] = [{"role": "system", "content": system},
                                  {"role": "user", "content": "Find where the login redirect happens and make "
                                   "it configurable. Use the tools; one call per step."}]
    ctx = CallContext(ModelRoute(token="bench-session", model_id="b"))
    out = []
    prev_prompt = 0
    for turn in range(1, turns + 1):
        req = {"messages": msgs, "tools": TOOLS, "tool_choice": "required" if turn < turns else "auto",
               "max_tokens": 80, "stream": True}
        t0 = time.perf_counter()
        chunks = [c async for c in backend.stream(req, ctx)]
        from goaldrift.gateway.chunks import assemble

        resp = assemble(chunks)
        use = resp["usage"]
        extra = chunks[-1]["goaldrift"]
        out.append({"turn": turn, "prompt_tokens": use["prompt_tokens"],
                    "new_since_last_prompt": use["prompt_tokens"] - prev_prompt,
                    "cached": use["prompt_tokens_details"]["cached_tokens"],
                    "evaluated": use["prompt_tokens"] - use["prompt_tokens_details"]["cached_tokens"],
                    "completion_tokens": use["completion_tokens"], "kv_state": extra["kv_state"],
                    "wall_s": round(time.perf_counter() - t0, 2)})
        prev_prompt = use["prompt_tokens"]
        msg = resp["choices"][0]["message"]
        msgs.append({"role": "assistant", "content": msg.get("content"), **(
            {"tool_calls": msg["tool_calls"]} if msg.get("tool_calls") else {})})
        for call in msg.get("tool_calls") or []:
            msgs.append({"role": "tool", "tool_call_id": call["id"],
                         "content": f"(result of {call['function']['name']})\n" + LOREM * 2})
        if not msg.get("tool_calls"):
            msgs.append({"role": "user", "content": "Continue."})
        if turn == 1:  # OpenCode's title request: no tools, another prompt, same route
            title = {"messages": [{"role": "system", "content": "Generate a title for this conversation."},
                                  {"role": "user", "content": msgs[1]["content"]}], "max_tokens": 12}
            async for _ in backend.stream(title, ctx):
                pass
    return out


# ---------------------------------------------------------------- main


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--prompt-words", type=int, default=350)
    ap.add_argument("--gen", type=int, default=64)
    ap.add_argument("--turns", type=int, default=5)
    ap.add_argument("--n-ctx", type=int, default=8192)
    ap.add_argument("--no-gateway", action="store_true")
    args = ap.parse_args()

    from llama_cpp import Llama

    backend = LocalBackend(ModelSpec(id="bench", backend="local", temperature=0.0, seed=1,
                                     params={"n_ctx": args.n_ctx}))
    backend.engine.load()
    cfg = backend.engine.config
    llm = Llama(str(backend.model_path), n_ctx=args.n_ctx, n_batch=cfg.n_batch, n_threads=cfg.threads,
                n_threads_batch=cfg.threads, verbose=False)

    gateway = client = url = None
    if not args.no_gateway:
        try:
            import httpx

            from goaldrift.gateway.app import Gateway

            gateway = Gateway(None)
            await gateway.start()
            url = gateway.url_for(gateway.open_route(backend))
            client = httpx.AsyncClient(timeout=600)
        except ImportError as exc:
            print(f"(gateway not available: {exc})", file=sys.stderr)

    results: dict[str, list[dict[str, float]]] = {"direct": [], "backend": []}
    if client is not None:
        results["gateway"] = []
    # warm-up (page in the weights for both Llama instances)
    msgs = prompt_messages(50, "warmup")
    run_direct(llm, backend.engine.render(msgs, None), 4)
    await run_backend(backend, msgs, 4)
    for i in range(args.runs):
        for path in results:
            msgs = prompt_messages(args.prompt_words, f"{path}-{i}-{uuid.uuid4().hex[:8]}")
            if path == "direct":
                r = await asyncio.get_running_loop().run_in_executor(
                    None, run_direct, llm, backend.engine.render(msgs, None), args.gen)
            elif path == "backend":
                r = await run_backend(backend, msgs, args.gen)
            else:
                r = await run_gateway(client, url, msgs, args.gen)
            results[path].append(r)
            print(f"  run {i + 1}/{args.runs} {path:8s} prompt {r['evaluated']} tok in {r['prefill_s']:.2f}s, "
                  f"gen {r['gen_tokens']} tok in {r['gen_s']:.2f}s", file=sys.stderr)

    summary: dict[str, Any] = {}
    for path, rs in results.items():
        pr = [rates(r)[0] for r in rs]
        gr = [rates(r)[1] for r in rs]
        summary[path] = {"prompt_tok_s": round(median(pr), 2), "gen_tok_s": round(median(gr), 2),
                         "prompt_tokens": rs[0]["prompt_tokens"] if rs else None,
                         "prompt_tok_s_all": [round(x, 2) for x in pr], "gen_tok_s_all": [round(x, 2) for x in gr]}
    base = summary["direct"]
    for path in summary:
        summary[path]["prompt_ratio"] = round(summary[path]["prompt_tok_s"] / base["prompt_tok_s"], 3)
        summary[path]["gen_ratio"] = round(summary[path]["gen_tok_s"] / base["gen_tok_s"], 3)

    turns = await session(backend, args.turns)

    print(f"\nmodel {backend.model_file}, threads {cfg.threads}, n_ctx {args.n_ctx}, median of {args.runs}")
    print(f"{'path':10s} {'prompt tok/s':>13s} {'ratio':>7s} {'gen tok/s':>10s} {'ratio':>7s}")
    for path, s in summary.items():
        print(f"{path:10s} {s['prompt_tok_s']:13.1f} {s['prompt_ratio']:7.2f} {s['gen_tok_s']:10.1f} {s['gen_ratio']:7.2f}")
    print(f"\n{'turn':>4s} {'prompt':>7s} {'new':>6s} {'cached':>7s} {'evaluated':>10s} {'kv':>14s} {'wall s':>7s}")
    for t in turns:
        print(f"{t['turn']:4d} {t['prompt_tokens']:7d} {t['new_since_last_prompt']:6d} {t['cached']:7d} "
              f"{t['evaluated']:10d} {t['kv_state']:>14s} {t['wall_s']:7.2f}")
    print(json.dumps({"model": backend.model_file, "threads": cfg.threads, "runs": args.runs,
                      "throughput": summary, "session": turns}))

    if client is not None:
        await client.aclose()
    if gateway is not None:
        await gateway.stop()
    else:
        await backend.aclose()
    llm.close()


if __name__ == "__main__":
    asyncio.run(main())
