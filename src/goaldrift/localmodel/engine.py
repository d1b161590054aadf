"""One llama.cpp model and its KV cache, shared by the sessions that use it.

Prompt processing is the expensive part on a CPU (OpenCode's first request is ~8k tokens, ~90 s on the
1.5B model); later turns are cheap only if the KV cache still holds the session's prefix. The engine
keeps one ``llama_cpp.Llama`` (one context of ``n_ctx`` tokens) and, per *slot* (the gateway route
and whether the request has tools), a snapshot of the context's KV cells in RAM:

- a request continues from whichever state shares the longest token prefix with its prompt — the
  live context, its own slot's snapshot, or another slot's (so a new run whose system prompt and
  tools equal a previous run's starts warm);
- before the live context is overwritten by another slot's prompt (OpenCode's title request, another
  run), it is saved (``llama_state_seq_get_data``: only the used cells, ~28 KB per token on the 1.5B
  model, ~0.1 s per 8k tokens) and restored when that slot comes back;
- snapshots are bounded by a byte budget, least recently used evicted first.

Everything here is synchronous and runs on the backend's single worker thread, so requests are
served one at a time (a CPU has no spare cores for a second one anyway) and the event loop never
blocks. ``cached_tokens`` is the prefix kept in the KV cache; ``prompt_tokens - cached_tokens`` tokens
are actually evaluated (at least one, so sampling starts from live logits).
"""

from __future__ import annotations

import codecs
import ctypes
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from goaldrift.errors import BackendError
from goaldrift.localmodel.chat import ChatRenderer
from goaldrift.localmodel.prefixcache import PrefixCache, common_prefix

# below this many shared tokens, a saved state is not worth restoring
_MIN_USEFUL_PREFIX = 32
# draws per token before a vetoed sequence is let through (the veto bans one token per draw)
_MAX_VETOES = 16


@dataclass(frozen=True)
class EngineConfig:
    n_ctx: int = 32768
    n_threads: int = 0  # 0: all cores this process may use (generation: see ``generation_threads``)
    n_batch: int = 512
    flash_attn: bool = False
    snapshot_budget_mb: int = 4096

    @property
    def threads(self) -> int:
        if self.n_threads > 0:
            return self.n_threads
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - not Linux
            return os.cpu_count() or 1

    def generation_threads(self, load: float) -> int:
        """Threads for decoding one token at a time, given the 1-minute load average.

        llama.cpp's threads meet at a barrier after every operation of every token. When the cores
        are oversubscribed (other jobs on a shared machine or CI runner), one descheduled thread stalls
        the rest: measured on 2 cores at load ~11, 1 thread generated 1.3 tokens/s, 2 threads 0.4. So
        with ``n_threads: 0`` generation uses one thread while the load average exceeds twice the
        cores, and every core otherwise. Prompt batches keep every core (their work per barrier is
        large). An explicit ``n_threads`` is used as given. The thread count changes timing only: each
        output value is computed by one thread, whichever."""
        if self.n_threads > 0:
            return self.n_threads
        cores = self.threads
        return 1 if load > 2 * cores else cores


@dataclass(frozen=True)
class Sampling:
    temperature: float
    top_p: float
    top_k: int
    min_p: float
    seed: int
    max_tokens: int
    repeat_penalty: float = 1.0  # 1.0: off; > 1 discourages repeating the last ``penalty_last_n`` tokens
    penalty_last_n: int = 64


@dataclass(frozen=True)
class Veto:
    """Token sequences to refuse while decoding under a grammar: ``rejects(text so far, piece)``;
    ``structural`` are token ids the grammar itself places (e.g. ``<tool_call>``), never vetoed and
    where the checked text starts again."""

    rejects: Callable[[str, str], bool]
    structural: frozenset[int] = frozenset()


@dataclass
class GenStats:
    prompt_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens served from the KV cache (not evaluated again)
    completion_tokens: int = 0
    finish_reason: str = "stop"
    prompt_eval_s: float = 0.0  # request start → first sampled token (includes slot switching)
    generation_s: float = 0.0  # first → last token
    slot_switch_s: float = 0.0
    grammar_resamples: int = 0  # tokens where the unconstrained draw broke the grammar
    vetoed: int = 0  # tokens banned by the request's veto (template markup, placeholders)
    generation_threads: int = 0  # llama.cpp threads used to decode this reply
    state_source: str = "live"  # live | own-snapshot | other-snapshot | other-live | fresh | disk
    prefix_disk: str = ""  # first turn's KV: "loaded" from disk | "shared" (a saved turn's common prefix) | "saved"
    raw_text: str = ""

    @property
    def evaluated_tokens(self) -> int:
        return self.prompt_tokens - self.cached_tokens


@dataclass
class _Snapshot:
    tokens: list[int]
    data: Any  # ctypes uint8 array
    nbytes: int
    used: float = field(default_factory=time.monotonic)


class LocalEngine:
    """A loaded GGUF model (lazily, on first use) plus its slots. Not thread-safe by itself: call it
    from one thread, or under :attr:`lock`."""

    def __init__(self, model_path: Path, config: EngineConfig, prefix_cache: PrefixCache | None = None):
        self.model_path = model_path
        self.config = config
        self.prefix_cache = prefix_cache  # the first turn's KV state on disk (``prefixcache.py``)
        self._turn_end: int | None = None
        self.lock = threading.Lock()
        self._llm: Any = None
        self._renderer: ChatRenderer | None = None
        self._active: str | None = None  # slot that owns the live context
        self._snapshots: OrderedDict[str, _Snapshot] = OrderedDict()
        self.load_s: float | None = None
        self._piece_buf = ctypes.create_string_buffer(256)
        self._full: Any = None

    # ------------------------------------------------------------ loading

    def load(self) -> None:
        if self._llm is not None:
            return
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise BackendError("the local backend needs llama-cpp-python: pip install -e '.[local]' "
                               "(or scripts/install-local-model)") from exc
        t0 = time.perf_counter()
        try:
            self._llm = Llama(str(self.model_path), n_ctx=self.config.n_ctx, n_batch=self.config.n_batch,
                              n_threads=self.config.threads, n_threads_batch=self.config.threads,
                              flash_attn=self.config.flash_attn, verbose=False)
        except Exception as exc:  # llama_cpp raises ValueError/RuntimeError with little detail
            raise BackendError(f"llama.cpp could not load {self.model_path} with n_ctx={self.config.n_ctx}: "
                               f"{exc}") from exc
        self.load_s = time.perf_counter() - t0
        md = self._llm.metadata
        vocab = self._llm._model

        def tok_text(key: str) -> str:
            tid = md.get(key)
            return vocab.token_to_piece(int(tid), special=True).rstrip(b"\0").decode("utf-8", "replace") if tid else ""

        import llama_cpp

        eot = llama_cpp.llama_vocab_eot(vocab.vocab)
        self._turn_end = int(eot) if eot >= 0 else self.single_token("<|im_end|>")
        self._renderer = ChatRenderer(md.get("tokenizer.chat_template"),
                                      bos_token=tok_text("tokenizer.ggml.bos_token_id"),
                                      eos_token=tok_text("tokenizer.ggml.eos_token_id"))

    @property
    def llm(self) -> Any:
        self.load()
        return self._llm

    def close(self) -> None:
        self._snapshots.clear()
        if self._llm is not None:
            self._llm.close()
            self._llm = None

    # ------------------------------------------------------------ prompts

    def render(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
        self.load()
        assert self._renderer is not None
        return self._renderer.render(messages, tools)

    def single_token(self, text: str) -> int | None:
        """The id of ``text`` if the vocabulary has it as one token (e.g. ``<tool_call>`` in Qwen2.5)."""
        ids = self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
        return ids[0] if len(ids) == 1 else None

    def tokenize(self, text: str) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)

    # ------------------------------------------------------------ slots

    def _snapshot_live(self) -> _Snapshot | None:
        import llama_cpp

        llm = self._llm
        n = llm.n_tokens
        if n == 0:
            return None
        size = llama_cpp.llama_state_seq_get_size(llm._ctx.ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        written = llama_cpp.llama_state_seq_get_data(llm._ctx.ctx, buf, size, 0)
        if written == 0:
            return None
        return _Snapshot(tokens=[int(t) for t in llm.input_ids[:n]], data=buf, nbytes=int(written))

    def _restore(self, snap: _Snapshot) -> bool:
        return self._set_state(snap.tokens, snap.data, snap.nbytes)

    def _set_state(self, tokens: list[int], data: Any, nbytes: int) -> bool:
        import llama_cpp

        llm = self._llm
        llm._ctx.kv_cache_seq_rm(-1, -1, -1)
        llm.n_tokens = 0
        if llama_cpp.llama_state_seq_set_data(llm._ctx.ctx, data, nbytes, 0) == 0:
            llm._ctx.kv_cache_seq_rm(-1, -1, -1)
            return False
        n = len(tokens)
        llm.input_ids[:n] = tokens
        llm.n_tokens = n
        llm._requires_eval = True  # logits are not live: generate() re-evaluates the last token
        return True

    def _first_turn(self, prompt: list[int]) -> int:
        """Length of the prompt's first turn (through its end-of-turn token), 0 if there is none."""
        if self._turn_end is None:
            return 0
        try:
            return prompt.index(self._turn_end) + 1
        except ValueError:
            return 0

    def _eval(self, tokens: list[int], cancel: threading.Event | None) -> bool:
        """Evaluate ``tokens`` one batch at a time; False if ``cancel`` was set in between (a prompt of
        thousands of tokens takes minutes on a busy CPU: a client that gave up frees the model within
        one batch instead of after the whole prompt)."""
        step = max(1, self.config.n_batch)
        for i in range(0, len(tokens), step):
            if cancel is not None and cancel.is_set():
                return False
            self._llm.eval(tokens[i:i + step])
        return True

    def _use_disk_prefix(self, prompt: list[int], stats: GenStats, cancel: threading.Event | None) -> int:
        """Start from the first turn's KV state on disk, or evaluate that turn and save it there.
        Returns how many prompt tokens were not evaluated (they came from a cache)."""
        llm = self._llm
        reused = llm.n_tokens
        end = self._first_turn(prompt)
        if self.prefix_cache is None or not (max(llm.n_tokens, _MIN_USEFUL_PREFIX) < end < len(prompt)):
            return reused
        head = prompt[:end]
        data = self.prefix_cache.load(head)
        if data is not None:
            buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
            if self._set_state(head, buf, len(data)):
                stats.state_source, stats.prefix_disk = "disk", "loaded"
                return end
            self.prefix_cache.drop(head)
            llm.n_tokens = 0
        # a new first turn: start from the saved one sharing the longest prefix with it, cut to that
        # prefix (OpenCode's differs from the last run's only after ~2,000 tokens, at the workspace path)
        near = self.prefix_cache.longest(head, at_least=max(llm.n_tokens, _MIN_USEFUL_PREFIX) + 1)
        if near is not None:
            tokens, data, shared = near
            buf = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
            if self._set_state(tokens, buf, len(data)) and llm._ctx.kv_cache_seq_rm(-1, shared, -1):
                llm.n_tokens = reused = shared
                stats.state_source, stats.prefix_disk = "disk", "shared"
            else:
                self.prefix_cache.drop(tokens)
                llm._ctx.kv_cache_seq_rm(-1, -1, -1)
                llm.n_tokens = reused = 0
        if not self._eval(prompt[llm.n_tokens:end], cancel):
            return reused
        snap = self._snapshot_live()
        if snap is not None:
            self.prefix_cache.save(head, ctypes.string_at(ctypes.addressof(snap.data), snap.nbytes))
            stats.prefix_disk = f"{stats.prefix_disk}+saved" if stats.prefix_disk else "saved"
        return reused

    def _store(self, key: str, snap: _Snapshot | None) -> None:
        if snap is None:
            return
        self._snapshots[key] = snap
        self._snapshots.move_to_end(key)
        budget = self.config.snapshot_budget_mb << 20
        while self._snapshots and sum(s.nbytes for s in self._snapshots.values()) > budget:
            self._snapshots.popitem(last=False)

    def _switch(self, key: str, prompt: list[int]) -> str:
        """Put the best starting state for ``prompt`` into the live context; return where it came from."""
        llm = self._llm
        live = [int(t) for t in llm.input_ids[: llm.n_tokens]]
        best_src, best_len, best_key = "live", common_prefix(live, prompt), self._active
        for k, snap in self._snapshots.items():
            n = common_prefix(snap.tokens, prompt)
            if n > best_len or (n == best_len and k == key and best_key != key):
                best_src, best_len, best_key = "snapshot", n, k
        if best_len < _MIN_USEFUL_PREFIX:
            best_src, best_key = "fresh", None

        # whatever happens next overwrites the live context beyond the shared prefix: keep it if it
        # belongs to another slot (its own slot's next turn supersedes it)
        if (self._active is not None and self._active != key and llm.n_tokens > 0
                and not (best_src == "live" and best_len == llm.n_tokens)):
            self._store(self._active, self._snapshot_live())
        source = "live" if best_key == key else "other-live"
        if best_src == "snapshot":
            snap = self._snapshots[best_key]  # type: ignore[index]
            snap.used = time.monotonic()
            source = "own-snapshot" if best_key == key else "other-snapshot"
            if not self._restore(snap):
                source = "fresh"
        elif best_src == "fresh":
            source = "fresh"
        self._snapshots.pop(key, None)  # the live context is now this slot's newest state
        self._active = key
        return source

    # ------------------------------------------------------------ generation

    def _piece(self, token: int) -> bytes:
        """The bytes of one generated token (control tokens such as <|im_end|> give none)."""
        import llama_cpp

        buf = self._piece_buf
        n = llama_cpp.llama_token_to_piece(self._llm._model.vocab, token, buf, len(buf), 0, False)
        if n < 0:
            big = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self._llm._model.vocab, token, big, len(big), 0, False)
            return big.raw[:n]
        return buf.raw[:n]

    def generate(self, slot: str, prompt: list[int], grammar: str | None, sampling: Sampling,
                 on_text: Callable[[str], None], cancel: threading.Event | None = None,
                 veto: Veto | None = None) -> GenStats:
        """Continue ``slot`` with ``prompt`` and stream decoded text to ``on_text``.

        Sampling is llama.cpp's (top-k → top-p → min-p → temperature → seeded draw), with the grammar
        checked the way llama.cpp's own server does it: draw from the unconstrained distribution,
        check that one token against the grammar, and only if it is rejected apply the grammar to
        the whole vocabulary (151k tokens for Qwen — expensive) and draw again. Same distribution as
        applying the grammar first, at a fraction of the cost.

        ``veto`` (with a grammar only) rejects tokens the grammar cannot express: called with the
        reply's text since its last ``veto.structural`` token and a candidate token's text, a true
        answer bans that token and the draw is repeated without it (``GenStats.vetoed`` counts them).
        """
        import llama_cpp

        llm = self.llm
        if len(prompt) >= self.config.n_ctx:
            raise BackendError(f"the prompt has {len(prompt)} tokens but the local model's context holds "
                               f"{self.config.n_ctx}: raise params.n_ctx in the model entry")
        max_tokens = min(sampling.max_tokens, self.config.n_ctx - len(prompt))
        stats = GenStats(prompt_tokens=len(prompt))
        stats.generation_threads = self.config.generation_threads(os.getloadavg()[0])
        llama_cpp.llama_set_n_threads(llm._ctx.ctx, stats.generation_threads, self.config.threads)
        t0 = time.perf_counter()
        stats.state_source = self._switch(slot, prompt)
        stats.slot_switch_s = time.perf_counter() - t0

        # reuse the longest common prefix of the live context (at least one token is evaluated, so
        # the logits we sample from are live)
        live = llm.input_ids[: llm.n_tokens].tolist()
        keep = min(common_prefix(live, prompt), len(prompt) - 1)
        if keep > 0 and llm._ctx.kv_cache_seq_rm(-1, keep, -1):
            llm.n_tokens = keep
        else:
            llm._ctx.kv_cache_seq_rm(-1, -1, -1)
            llm.n_tokens = 0
        try:
            stats.cached_tokens = self._use_disk_prefix(prompt, stats, cancel)
        except Exception as exc:
            llm.n_tokens = 0
            raise BackendError(f"llama.cpp failed to evaluate the prompt: {exc}") from exc
        try:
            evaluated = self._eval(prompt[llm.n_tokens:], cancel)
        except Exception as exc:
            llm.n_tokens = 0
            raise BackendError(f"llama.cpp failed to evaluate the prompt: {exc}") from exc
        t_first = time.perf_counter()
        if not evaluated:
            stats.finish_reason = "cancelled"
            stats.prompt_eval_s = t_first - t0
            return stats

        ctx, vocab = llm._ctx.ctx, llm._model.vocab
        chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        if sampling.temperature <= 0:
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
        else:
            if sampling.repeat_penalty != 1.0:
                llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_penalties(
                    llm.n_vocab(), sampling.penalty_last_n, sampling.repeat_penalty, 0.0, 0.0))
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_k(sampling.top_k))
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_top_p(sampling.top_p, 1))
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_min_p(sampling.min_p, 1))
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_temp(sampling.temperature))
            llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_dist(sampling.seed))
        gram = None
        if grammar is not None:
            gram = llama_cpp.llama_sampler_init_grammar(vocab, grammar.encode("utf-8"), b"root")
            if not gram:
                llama_cpp.llama_sampler_free(chain)
                raise BackendError("llama.cpp rejected the tool grammar (see its log on stderr)")
        one = (llama_cpp.llama_token_data * 1)()
        one_arr = llama_cpp.llama_token_data_array(data=one, size=1, selected=-1, sorted=False)
        full = self._candidates()

        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        pieces: list[str] = []
        checked = ""  # the reply's text since its last structural token, for ``veto``

        def vetoed(tok: int) -> bool:
            return (veto is not None and tok not in veto.structural
                    and veto.rejects(checked, self._piece(tok).decode("utf-8", "ignore")))

        n = 0
        finish = "length"
        stats.grammar_resamples = 0
        try:
            while n < max_tokens:
                token = llama_cpp.llama_sampler_sample(chain, ctx, -1)  # also accepts into the chain
                if gram is not None:
                    one[0].id, one[0].logit, one[0].p = token, 1.0, 0.0
                    one_arr.size, one_arr.selected = 1, -1
                    llama_cpp.llama_sampler_apply(gram, ctypes.byref(one_arr))
                    banned: list[int] = []
                    if one[0].logit == float("-inf"):
                        stats.grammar_resamples += 1
                    elif vetoed(token):
                        banned.append(token)
                    if one[0].logit == float("-inf") or banned:
                        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1),
                                                       shape=(llm._n_vocab,))
                        for _ in range(_MAX_VETOES):
                            full.copy_logits(logits)
                            full.candidates_data.logit[banned] = float("-inf")
                            llama_cpp.llama_sampler_apply(gram, ctypes.byref(full.candidates))
                            llama_cpp.llama_sampler_apply(chain, ctypes.byref(full.candidates))
                            token = int(full.candidates_data.id[full.candidates.selected])
                            if not vetoed(token):
                                break
                            banned.append(token)
                        stats.vetoed += len(banned)
                        llama_cpp.llama_sampler_accept(chain, token)
                    llama_cpp.llama_sampler_accept(gram, token)
                    if veto is not None:
                        checked = "" if token in veto.structural else \
                            (checked + self._piece(token).decode("utf-8", "ignore"))[-256:]
                if llama_cpp.llama_vocab_is_eog(vocab, token):
                    finish = "stop"
                    break
                n += 1
                text = decoder.decode(self._piece(token))
                if text:
                    pieces.append(text)
                    on_text(text)
                if cancel is not None and cancel.is_set():
                    finish = "cancelled"
                    break
                if n >= max_tokens:
                    break
                llm.eval([token])
        finally:
            llama_cpp.llama_sampler_free(chain)
            if gram is not None:
                llama_cpp.llama_sampler_free(gram)
        tail = decoder.decode(b"", final=True)
        if tail:
            pieces.append(tail)
            on_text(tail)
        t_end = time.perf_counter()
        stats.completion_tokens = n
        stats.finish_reason = finish
        stats.prompt_eval_s = t_first - t0
        stats.generation_s = t_end - t_first
        stats.raw_text = "".join(pieces)
        stats.cached_tokens = max(0, min(stats.cached_tokens, len(prompt)))
        return stats

    def _candidates(self) -> Any:
        if self._full is None:
            from llama_cpp._internals import LlamaTokenDataArray

            self._full = LlamaTokenDataArray(n_vocab=self._llm._n_vocab)
        return self._full

    def snapshot_info(self) -> dict[str, Any]:
        return {"active": self._active, "snapshots": {k: {"tokens": len(s.tokens), "bytes": s.nbytes}
                                                      for k, s in self._snapshots.items()}}
