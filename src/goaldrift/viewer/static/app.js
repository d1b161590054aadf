/* goaldrift view front-end: plain JavaScript, no build step, no dependencies.
 *
 * Everything shown comes from the store, and the store holds an untrusted agent's output. So this file
 * never assigns markup: every element is made with h(), and every stored string becomes a text node
 * (document.createTextNode / textContent). Links are built from ids with encodeURIComponent.
 */
"use strict";

const OUTCOME_TEXT = { violated: "violated", complied: "complied", not_applicable: "n/a", error: "error" };
const LABEL_KEYS = { v: "violated", c: "complied", n: "not_applicable" };
let facetsCache = null;
let keyHandler = null;
let pollTimer = null;

function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (k === "style") Object.assign(el.style, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function link(href, ...children) {
  return h("a", { href, dataset: { nav: "" } }, ...children);
}

const enc = encodeURIComponent;
const runUrl = (runId, step, attempt) =>
  "/runs/" + enc(runId) + (step ? "/steps/" + enc(step) : "") + (attempt ? "?attempt=" + enc(attempt) : "");

async function api(path, options) {
  const res = await fetch(path, options);
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) throw new Error((body && body.error) || res.status + " " + res.statusText);
  return body;
}

function pct(x) { return x === null || x === undefined ? "—" : (100 * x).toFixed(0) + "%"; }
function outcomeBadge(o) { return h("span", { class: "badge o-" + o }, OUTCOME_TEXT[o] || String(o)); }

function rateColour(rate) {
  // white-ish (0%) to deep red (100%)
  const light = 96 - 50 * rate;
  return { background: "hsl(0, " + (40 + 35 * rate).toFixed(0) + "%, " + light.toFixed(0) + "%)", dark: light < 62 };
}

function setMain(...children) {
  const main = document.getElementById("main");
  main.replaceChildren();
  append(main, children);
}

function setKeys(text, handler) {
  document.getElementById("keys").replaceChildren(...(text ? [document.createTextNode(text)] : []));
  keyHandler = handler || null;
}

function showError(err) {
  setMain(h("div", { class: "error-box" }, "Could not load this page: ", String(err && err.message ? err.message : err)));
}

async function facets() {
  if (!facetsCache) {
    facetsCache = await api("/api/facets");
    document.getElementById("store").textContent = facetsCache.store;
  }
  return facetsCache;
}

/* ---------------------------------------------------------------- routing */

function navigate(href, replace) {
  if (replace) history.replaceState(null, "", href); else history.pushState(null, "", href);
  route();
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest ? ev.target.closest("a[data-nav]") : null;
  if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", () => route());
document.addEventListener("keydown", (ev) => {
  const t = ev.target;
  const typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT");
  if (typing && ev.key !== "Escape" && ev.key !== "Enter") return;
  if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if (keyHandler) keyHandler(ev, typing);
});

async function route() {
  if (pollTimer) { clearTimeout(pollTimer); pollTimer = null; }
  setKeys("");
  facets().catch(() => null);  // the store's name in the header; errors show on the pages that need facets
  const path = location.pathname;
  const params = new URLSearchParams(location.search);
  let m;
  try {
    if (path === "/" ) await overview(params, null);
    else if ((m = path.match(/^\/experiments\/([^/]+)$/))) await overview(params, decodeURIComponent(m[1]));
    else if ((m = path.match(/^\/runs\/([^/]+)\/steps\/(\d+)$/))) await runPage(decodeURIComponent(m[1]), +m[2], params);
    else if ((m = path.match(/^\/runs\/([^/]+)$/))) await runPage(decodeURIComponent(m[1]), null, params);
    else if (path === "/queue") await queuePage(params);
    else if (path === "/agreement") await agreementPage();
    else if ((m = path.match(/^\/calls\/(\d+)$/))) await callPage(+m[1]);
    else setMain(h("p", {}, "No such page. ", link("/", "Back to the overview")));
  } catch (err) {
    showError(err);
  }
}

/* ---------------------------------------------------------------- overview */

function filterUrl(base, params, changes) {
  const p = new URLSearchParams(params);
  for (const [k, v] of Object.entries(changes)) { if (v === null || v === "") p.delete(k); else p.set(k, v); }
  if (!("offset" in changes)) p.delete("offset");
  const q = p.toString();
  return base + (q ? "?" + q : "");
}

function select(name, label, options, value, onchange) {
  const s = h("select", { name, onchange: (e) => onchange(e.target.value) },
    h("option", { value: "" }, "all"),
    options.map((o) => h("option", { value: o[0], selected: o[0] === value }, o[1])));
  return h("label", {}, label, s);
}

async function overview(params, experiment) {
  const f = await facets();
  const base = experiment ? "/experiments/" + enc(experiment) : "/";
  const apiParams = new URLSearchParams(params);
  if (experiment) apiParams.set("experiment", experiment);
  const go = (changes) => navigate(filterUrl(base, params, changes));
  const factorOptions = [];
  for (const [k, vs] of Object.entries(f.factors)) for (const v of vs) factorOptions.push([k + "=" + v, k + " = " + v]);
  const exp = f.experiments.find((e) => e.experiment_id === experiment);
  const filters = h("div", { class: "filters" },
    h("label", {}, "experiment", h("select", {
      name: "experiment",
      onchange: (e) => navigate(filterUrl(e.target.value ? "/experiments/" + enc(e.target.value) : "/", params, {})),
    }, h("option", { value: "" }, "all"),
      f.experiments.map((e) => h("option", { value: e.experiment_id, selected: e.experiment_id === experiment },
        e.name + " (" + e.experiment_id + ", " + e.runs + " runs)")))),
    select("model", "model", f.models.map((x) => [x, x]), params.get("model"), (v) => go({ model: v })),
    select("scenario", "value pair", Object.keys(f.scenarios).map((x) => [x, x]), params.get("scenario"), (v) => go({ scenario: v })),
    select("condition", "condition", f.conditions.map((x) => [x, x]), params.get("condition"), (v) => go({ condition: v })),
    factorOptions.length ? select("factor", "factor", factorOptions, params.get("factor"), (v) => go({ factor: v })) : null,
    select("outcome", "runs with a step that", f.outcomes.map((x) => [x, OUTCOME_TEXT[x]]), params.get("outcome"), (v) => go({ outcome: v })),
    params.get("step") ? h("span", { class: "muted" }, "at step " + params.get("step") + " ",
      h("a", { href: filterUrl(base, params, { step: null }), dataset: { nav: "" } }, "(any step)")) : null,
  );
  const gridBox = h("div", {}, h("p", { class: "muted" }, "Loading rates…"));
  const runsBox = h("div", {}, h("p", { class: "muted" }, "Loading runs…"));
  setMain(
    h("h1", {}, exp ? "Experiment " + exp.name : "All experiments"),
    exp ? h("p", { class: "muted mono" }, "experiment " + exp.experiment_id + " · goaldrift " + exp.goaldrift_version +
      (exp.git_revision ? " · revision " + exp.git_revision : "")) : null,
    filters,
    h("h2", {}, "Per-step violation rate"),
    h("div", { class: "legend" }, "violated / (violated + complied); n = runs with that step",
      h("span", { class: "ramp" }, [0, 0.25, 0.5, 0.75, 1].map((r) => h("span", { style: { background: rateColour(r).background } }))),
      "0% → 100%", h("span", { class: "sq none", style: { width: "18px", height: "12px" } }), "no decided step"),
    gridBox,
    h("h2", {}, "Runs"),
    runsBox,
  );
  loadRuns(runsBox, base, params, apiParams);
  loadGrid(gridBox, base, params, apiParams, f);
}

async function loadGrid(box, base, params, apiParams, f) {
  const data = await api("/api/rates?" + apiParams.toString());
  if (!data.ready) {
    box.replaceChildren(h("p", { class: "muted" }, data.error ? "Rates failed: " + data.error :
      "Computing rates over every stored step (the one full scan; pages below are ready)…"));
    if (!data.error) pollTimer = setTimeout(() => loadGrid(box, base, params, apiParams, f), 1000);
    return;
  }
  if (data.stale && data.computing) pollTimer = setTimeout(() => loadGrid(box, base, params, apiParams, f), 2000);
  // panels: value pair × model; inside, 2×2: constraint side × (no pressure | pressure)
  const panels = new Map();
  for (const r of data.rows) {
    const key = r.scenario_id + "\u0000" + r.model_id;
    if (!panels.has(key)) panels.set(key, { scenario: r.scenario_id, model: r.model_id, conds: new Map() });
    const p = panels.get(key);
    if (!p.conds.has(r.condition)) p.conds.set(r.condition, { row: r, steps: [] });
    p.conds.get(r.condition).steps.push(r);
  }
  if (!panels.size) { box.replaceChildren(h("p", { class: "muted" }, "No finished steps match these filters.")); return; }
  const grid = h("div", { class: "grid" });
  const ordered = [...panels.values()].sort((a, b) => a.scenario.localeCompare(b.scenario) || a.model.localeCompare(b.model));
  for (const p of ordered) {
    const sides = (f.scenarios[p.scenario] || []).slice();
    for (const c of p.conds.values()) if (!sides.includes(c.row.constraint_side)) sides.push(c.row.constraint_side);
    const table = h("table", {}, h("tr", {}, h("th", {}, "constraint favours"), h("th", {}, "no pressure"), h("th", {}, "pressure toward the other value")));
    for (const side of sides) {
      const cell = (pressured) => {
        const td = h("td", {});
        for (const c of p.conds.values()) {
          if (c.row.constraint_side !== side || (c.row.pressure_side !== null) !== pressured) continue;
          td.appendChild(h("div", { class: "cond" }, c.row.condition));
          td.appendChild(strip(c, base, params));
        }
        if (!td.childNodes.length) td.appendChild(h("span", { class: "muted" }, "—"));
        return td;
      };
      table.appendChild(h("tr", {}, h("th", {}, side), cell(false), cell(true)));
    }
    grid.appendChild(h("div", { class: "panel" }, h("h3", {}, p.scenario + " · " + p.model), table));
  }
  box.replaceChildren(grid, data.seconds !== null ? h("p", { class: "muted" },
    "computed in " + data.seconds.toFixed(1) + " s" + (data.stale ? " (updating: runs finished since)" : "")) : null);
}

function strip(c, base, params) {
  const s = h("div", { class: "strip" });
  for (const r of c.steps.sort((a, b) => a.step - b.step)) {
    const decided = r.violated + r.complied;
    const title = "step " + r.step + ": " + r.violated + " of " + decided + " decided violated (" + pct(r.rate) +
      "); runs " + r.runs + ", n/a " + r.not_applicable + ", error " + r.error;
    const href = filterUrl(base, params, { model: r.model_id, scenario: r.scenario_id, condition: r.condition, step: String(r.step), outcome: "violated" });
    const a = h("a", { class: "sq", href, title, dataset: { nav: "", step: r.step } }, h("span", {}, pct(r.rate)), h("span", {}, "n=" + r.runs));
    if (r.rate === null) a.classList.add("none");
    else { const col = rateColour(r.rate); a.style.background = col.background; if (col.dark) a.classList.add("dark"); }
    s.appendChild(a);
  }
  return s;
}

async function loadRuns(box, base, params, apiParams) {
  const offset = +(params.get("offset") || 0);
  apiParams.set("offset", String(offset));
  const data = await api("/api/runs?" + apiParams.toString());
  const rows = data.runs.map((r) => h("tr", {},
    h("td", { class: "mono" }, link(runUrl(r.run_id), r.run_id)),
    h("td", {}, r.model_id), h("td", {}, r.scenario_id), h("td", {}, r.condition), h("td", {}, String(r.repeat)),
    h("td", {}, r.status),
    h("td", {}, h("div", { class: "mini" }, r.steps.map((s) => h("a", {
      href: runUrl(r.run_id, s.step), class: "o-" + s.outcome + (s.label ? " labelled" : ""), dataset: { nav: "" },
      title: "step " + s.step + ": " + (OUTCOME_TEXT[s.outcome] || s.outcome) + (s.label ? " · labelled " + OUTCOME_TEXT[s.label] : ""),
    }))))));
  const pager = h("div", { class: "pager" },
    offset > 0 ? link(filterUrl(base, params, { offset: String(Math.max(0, offset - data.limit)) }), "← previous") : null,
    h("span", { class: "muted" }, data.total ? (offset + 1) + "–" + (offset + data.runs.length) + " of " + data.total +
      (data.total_capped ? "+" : "") + " runs" : "no runs match"),
    offset + data.limit < data.total || (data.total_capped && data.runs.length === data.limit) ? link(filterUrl(base, params, { offset: String(offset + data.limit) }), "next →") : null);
  box.replaceChildren(pager, h("table", { class: "runs" },
    h("tr", {}, ["run", "model", "value pair", "condition", "repeat", "status", "steps"].map((x) => h("th", {}, x))), rows));
}

/* ---------------------------------------------------------------- run and step */

async function runPage(runId, stepN, params) {
  const attempt = params.get("attempt");
  const data = await api("/api/runs/" + enc(runId) + (attempt ? "?attempt=" + enc(attempt) : ""));
  const r = data.run;
  const a = data.attempt;
  const factors = Object.entries(r.condition_factors || {}).filter(([k]) => !["constraint", "pressure"].includes(k))
    .map(([k, v]) => k + "=" + v).join(", ");
  const header = [
    h("h1", {}, "Run ", h("span", { class: "mono" }, r.run_id)),
    h("div", { class: "facts" },
      fact("model", r.model_id), fact("value pair", r.scenario_id), fact("condition", r.condition),
      fact("constraint favours", r.constraint_side), fact("pressure toward", r.pressure_side || "none"),
      fact("factors", factors), fact("repeat", r.repeat), fact("seed", r.seed === null ? "—" : r.seed),
      fact("harness", a && a.harness_version ? a.harness_version : r.harness),
      fact("pack", String(r.scenario_hash).slice(0, 12)), fact("experiment", link("/experiments/" + enc(r.experiment_id), r.experiment_id)),
      fact("status", r.status)),
    data.attempts.length > 1 ? h("p", {}, "Attempts: ", data.attempts.map((x) => [
      x.attempt_id === (a && a.attempt_id) ? h("b", {}, "#" + x.number + " " + x.status) :
        link(runUrl(r.run_id, stepN, x.attempt_id), "#" + x.number + " " + x.status), " "])) : null,
    a && a.error ? h("div", { class: "error-box" }, "Attempt error: ", a.error) : null,
  ];
  const attemptQ = attempt ? attempt : null;
  const timeline = h("div", { class: "timeline" }, data.steps.map((s) => h("a", {
    href: runUrl(r.run_id, s.step, attemptQ), dataset: { nav: "", step: s.step },
    class: "o-" + s.outcome + (s.step === stepN ? " current" : "") + (s.label ? " labelled" : ""),
    title: "step " + s.step + ": " + OUTCOME_TEXT[s.outcome] + (s.label ? " · labelled " + OUTCOME_TEXT[s.label.outcome] : ""),
  }, String(s.step), h("small", {}, OUTCOME_TEXT[s.outcome]))));
  if (!data.steps.length) { setMain(header, h("p", { class: "muted" }, "No steps stored for this attempt.")); return; }
  if (stepN === null) {
    setMain(header, h("h2", {}, "Steps"), timeline, stepsTable(r.run_id, data.steps, attemptQ));
    setKeys("click a step, or press 1 to open the first step", (ev) => {
      if (ev.key === "1") navigate(runUrl(r.run_id, data.steps[0].step, attemptQ));
    });
    return;
  }
  const s = await api("/api/runs/" + enc(runId) + "/steps/" + stepN + (attempt ? "?attempt=" + enc(attempt) : ""));
  setMain(header, timeline, stepView(r, s, attemptQ));
  const labelBar = document.querySelector(".labelbar");
  setKeys("v violated · c complied · n n/a · x clear label · / note · ← → previous/next step · e first evidence line",
    (ev, typing) => {
      if (typing) { if (ev.key === "Escape" || ev.key === "Enter") ev.target.blur(); return; }
      if (LABEL_KEYS[ev.key]) { ev.preventDefault(); labelBar.save(LABEL_KEYS[ev.key]); }
      else if (ev.key === "x") { ev.preventDefault(); labelBar.save(null); }
      else if (ev.key === "/") { ev.preventDefault(); labelBar.note.focus(); }
      else if ((ev.key === "ArrowLeft" || ev.key === "k") && s.prev) navigate(runUrl(r.run_id, s.prev, attemptQ));
      else if ((ev.key === "ArrowRight" || ev.key === "j") && s.next) navigate(runUrl(r.run_id, s.next, attemptQ));
      else if (ev.key === "e") { const first = document.querySelector("tr.evidence"); if (first) first.scrollIntoView({ block: "center" }); }
    });
}

function fact(name, value) {
  return h("span", {}, h("b", {}, name), value === null || value === undefined || value === "" ? "—" : value);
}

function stepsTable(runId, steps, attempt) {
  return h("table", {}, h("tr", {}, ["step", "outcome", "detectors", "judges", "label", "tokens in/out", "tool calls", "seconds"].map((x) => h("th", {}, x))),
    steps.map((s) => h("tr", {},
      h("td", {}, link(runUrl(runId, s.step, attempt), "step " + s.step)), h("td", {}, outcomeBadge(s.outcome)),
      h("td", {}, s.detectors.map((d) => [d.detector, " ", outcomeBadge(d.outcome), " "])),
      h("td", {}, s.judges.map((j) => [j.judge, " ", outcomeBadge(j.outcome), " "])),
      h("td", {}, s.label ? outcomeBadge(s.label.outcome) : "—"),
      h("td", {}, s.tokens_in + " / " + s.tokens_out), h("td", {}, String(s.tool_calls)),
      h("td", {}, (s.duration_s || 0).toFixed(1)))));
}

function evidenceText(ev) {
  return (ev || []).map((e) => (e.file || "?") + ":" + (e.line ?? "?") + "  " + (e.snippet || "") + (e.rule ? "   [" + e.rule + "]" : "")).join("\n");
}

function stepView(r, s, attempt) {
  const nav = h("div", { class: "stepnav" },
    s.prev ? link(runUrl(r.run_id, s.prev, attempt), "← step " + s.prev) : h("span", { class: "muted" }, "← first step"),
    h("h2", { style: { margin: "0" } }, "Step " + s.step + " ", outcomeBadge(s.outcome)),
    s.next ? link(runUrl(r.run_id, s.next, attempt), "step " + s.next + " →") : h("span", { class: "muted" }, "last step →"),
    h("span", { class: "muted mono" }, "attempt " + s.attempt_id));
  const verdicts = h("table", { class: "verdicts" }, h("tr", {}, ["source", "outcome", "evidence / rationale", "note"].map((x) => h("th", {}, x))));
  const dets = s.detectors.length ? s.detectors : [{ detector: s.detector, outcome: s.outcome, evidence: s.evidence, note: "" }];
  for (const d of dets) {
    verdicts.appendChild(h("tr", { class: d.detector === s.detector ? "primary" : "" },
      h("td", {}, "detector " + d.detector), h("td", {}, outcomeBadge(d.outcome)),
      h("td", {}, h("pre", {}, evidenceText(d.evidence))), h("td", {}, d.note || "")));
  }
  for (const j of s.judges) {
    verdicts.appendChild(h("tr", {}, h("td", {}, "judge " + j.judge), h("td", {}, outcomeBadge(j.outcome)),
      h("td", {}, h("pre", {}, j.rationale || "")), h("td", {}, j.call_id ? link("/calls/" + j.call_id, "judge call") : "")));
  }
  const m = s.metrics;
  const parts = [
    nav,
    s.error ? h("div", { class: "error-box" }, "Step error: ", s.error) : null,
    h("div", { class: "card" }, h("h3", {}, "Verdicts"), verdicts, h("h3", {}, "Your label (the gold standard)"), labelBar(s)),
    h("div", { class: "facts" }, fact("files changed", m.files_changed), fact("lines +/−", m.lines_added + " / " + m.lines_removed),
      fact("tokens in/out", m.tokens_in + " / " + m.tokens_out), fact("context tokens", m.context_tokens),
      fact("tool calls", m.tool_calls), fact("model calls", m.model_calls), fact("compacted", m.compacted ? "yes" : "no"),
      fact("seconds", (m.duration_s || 0).toFixed(2)), fact("commit", m.commit_sha ? String(m.commit_sha).slice(0, 12) : "—")),
    h("h2", {}, "Request"), requestCard(r.run_id, s.step),
    h("h2", {}, "Diff ", h("span", { class: "muted" }, "(evidence lines marked; press e to jump to the first)")), diffView(s.diff),
    h("h2", {}, "Transcript"), transcript(s),
    h("h2", {}, "Gateway calls"), callsTable(s.calls),
  ];
  return h("div", {}, parts);
}

function requestCard(runId, step) {
  const box = h("div", { class: "card" }, h("span", { class: "muted" }, "Loading the feature request…"));
  const missing = () => box.replaceChildren(h("span", { class: "muted" },
    "The scenario pack is not available here (--packs DIR); the transcript below starts with the recorded request."));
  api("/api/runs/" + enc(runId) + "/steps/" + step + "/request").then((req) => {
    if (!req.available) { missing(); return; }
    box.replaceChildren(h("details", {}, h("summary", {}, h("b", {}, req.title), " — show the feature request"), h("pre", {}, req.prompt)),
      req.pack_matches ? null : h("p", { class: "warn" }, "The scenario pack changed since this run; the recorded request in the transcript is what the agent saw."));
  }, missing);
  return box;
}

function labelBar(s) {
  const status = h("span", { class: "muted" });
  const note = h("input", { type: "text", placeholder: "note (press / to type, Enter to finish)", value: s.label ? s.label.note : "", maxlength: "4000" });
  const buttons = {};
  const bar = h("div", { class: "labelbar" });
  const paint = (outcome) => {
    for (const [o, b] of Object.entries(buttons)) b.classList.toggle("on", o === outcome);
    status.textContent = outcome ? "labelled " + OUTCOME_TEXT[outcome] : "not labelled";
    bar.dataset.label = outcome || "";
  };
  bar.save = async (outcome) => {
    status.textContent = "saving…";
    try {
      await api("/api/labels", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ attempt_id: s.attempt_id, step: s.step, outcome, note: note.value }) });
      s.label = outcome ? { outcome, note: note.value } : null;
      paint(outcome);
      const cell = document.querySelector('.timeline a[data-step="' + s.step + '"]');
      if (cell) cell.classList.toggle("labelled", !!outcome);
    } catch (err) {
      status.textContent = "not saved: " + err.message;
    }
  };
  bar.note = note;
  for (const [key, o] of Object.entries(LABEL_KEYS)) {
    buttons[o] = h("button", { type: "button", class: "lb-" + o, onclick: () => bar.save(o) }, h("kbd", {}, key), " ", OUTCOME_TEXT[o]);
    bar.appendChild(buttons[o]);
  }
  append(bar, [h("button", { type: "button", onclick: () => bar.save(null) }, h("kbd", {}, "x"), " clear"), note, status]);
  paint(s.label ? s.label.outcome : null);
  return bar;
}

function tokens(toks) {
  return toks.map(([cls, text]) => cls ? h("span", { class: "t-" + cls }, text) : document.createTextNode(text));
}

function diffView(diff) {
  if (!diff.files.length) return h("p", { class: "muted" }, "The step changed nothing.");
  const out = h("div", {});
  for (const f of diff.files) {
    const table = h("table", {});
    for (const hunk of f.hunks) {
      table.appendChild(h("tr", { class: "hunk" }, h("td", { colspan: "3" }, hunk.header)));
      for (const ln of hunk.lines) {
        const cls = (ln.kind === "+" ? "add" : ln.kind === "-" ? "del" : "") + (ln.marks.length ? " evidence" : "");
        table.appendChild(h("tr", { class: cls, title: ln.marks.length ? "evidence of " + ln.marks.join(", ") : null },
          h("td", { class: "ln" }, ln.old ?? ""), h("td", { class: "ln" }, ln.new ?? ""),
          h("td", { class: "code" }, ln.kind === "\\" ? "" : ln.kind, tokens(ln.tokens),
            ln.marks.length ? h("span", { class: "why" }, "◀ evidence: " + ln.marks.join(", ")) : null)));
      }
    }
    if (!f.hunks.length && f.meta.length) table.appendChild(h("tr", {}, h("td", { class: "muted" }, f.meta.join("\n"))));
    out.appendChild(h("div", { class: "diff" }, h("div", { class: "file" }, f.path), table));
  }
  if (diff.truncated) out.appendChild(h("p", { class: "warn" }, "The diff is longer than the viewer shows; the rest is cut."));
  return out;
}

function pretty(value) {
  if (typeof value === "string") return value;
  try { return JSON.stringify(value, null, 2); } catch (e) { return String(value); }
}

function longText(text, limit) {
  text = text || "";
  if (text.length <= (limit || 1500)) return h("pre", {}, text);
  return h("details", {}, h("summary", {}, text.length + " characters — show"), h("pre", {}, text));
}

function transcript(s) {
  const out = h("div", {});
  if (s.system) out.appendChild(h("div", { class: "msg system" }, h("div", { class: "who" }, "system prompt"), longText(s.system, 0)));
  if (!s.conversation.length) out.appendChild(h("p", { class: "muted" }, "No transcript was recorded for this step."));
  for (const msg of s.conversation) {
    const who = [msg.role];
    if (msg.call) {
      who.push(" · " + msg.call.prompt_tokens + " in / " + msg.call.completion_tokens + " out tokens · " +
        (msg.call.latency_s || 0).toFixed(2) + " s · HTTP " + msg.call.status + " · ");
      who.push(link("/calls/" + msg.call.call_id, "call " + msg.call.call_id));
    }
    if (msg.role === "tool") who.push(" · " + (msg.name || "") + (msg.status && msg.status !== "completed" ? " (" + msg.status + ")" : ""));
    const box = h("div", { class: "msg " + msg.role }, h("div", { class: "who" }, who));
    if (msg.content) box.appendChild(msg.role === "assistant" ? h("pre", {}, msg.content) : longText(msg.content, msg.role === "user" ? 600 : 1500));
    for (const tc of msg.tool_calls) box.appendChild(toolCall(tc));
    if (msg.call && msg.call.error) box.appendChild(h("div", { class: "error-box" }, msg.call.error));
    out.appendChild(box);
  }
  for (const e of s.trace_errors) out.appendChild(h("div", { class: "error-box" }, e));
  if (s.limit_hit) out.appendChild(h("p", { class: "warn" }, "Limit hit: " + s.limit_hit));
  return out;
}

function toolCall(tc) {
  const box = h("div", { class: "toolcall" }, h("b", { class: "mono" }, tc.name));
  const args = tc.arguments;
  if (args && typeof args === "object" && !Array.isArray(args)) {
    for (const [k, v] of Object.entries(args)) {
      const text = typeof v === "string" ? v : pretty(v);
      box.appendChild(text.includes("\n") || text.length > 120
        ? h("div", {}, h("span", { class: "argname" }, k), longText(text, 2500))
        : h("div", { class: "mono" }, h("span", { class: "argname" }, k), text));
    }
  } else {
    box.appendChild(longText(pretty(args), 2500));
  }
  return box;
}

function callsTable(calls) {
  if (!calls.length) return h("p", { class: "muted" }, "No gateway calls were recorded for this step.");
  return h("table", {}, h("tr", {}, ["call", "backend", "model", "HTTP", "tokens in/out", "seconds", "retries", "error"].map((x) => h("th", {}, x))),
    calls.map((c) => h("tr", {}, h("td", {}, link("/calls/" + c.call_id, String(c.call_id))), h("td", {}, c.backend),
      h("td", {}, c.model), h("td", {}, String(c.status)), h("td", {}, c.prompt_tokens + " / " + c.completion_tokens),
      h("td", {}, (c.latency_s || 0).toFixed(2)), h("td", {}, String(c.retries)), h("td", {}, c.error || ""))));
}

async function callPage(callId) {
  const c = await api("/api/calls/" + callId);
  setMain(h("h1", {}, "Gateway call " + c.call_id),
    h("div", { class: "facts" }, fact("backend", c.backend), fact("model", c.model), fact("HTTP", c.status),
      fact("stream", c.stream ? "yes" : "no"), fact("tokens in/out", c.prompt_tokens + " / " + c.completion_tokens),
      fact("seconds", (c.latency_s || 0).toFixed(2)), fact("retries", c.retries),
      fact("step", c.run_id ? link(runUrl(c.run_id, c.step), "run " + c.run_id + " step " + c.step) : "— (judge)")),
    c.error ? h("div", { class: "error-box" }, c.error) : null,
    c.retry_log.length ? [h("h2", {}, "Retries"), h("pre", {}, c.retry_log.join("\n"))] : null,
    h("h2", {}, "Request"), h("pre", { class: "card" }, pretty(c.request)),
    h("h2", {}, "Response"), h("pre", { class: "card" }, pretty(c.response)));
}

/* ---------------------------------------------------------------- disagreement queue */

async function queuePage(params) {
  const all = params.get("all") === "1";
  const items = [];
  let next = null;
  let sel = 0;
  const list = h("div", { class: "queue" });
  const more = h("button", { type: "button", onclick: () => load() }, "load more");
  const note = h("input", { type: "text", placeholder: "note for the selected step (press /)", maxlength: "4000", style: { width: "60%" } });
  const status = h("span", { class: "muted" });
  setMain(
    h("h1", {}, "Disagreements"),
    h("p", { class: "muted" }, "Steps where a detector or a judge reached another decided outcome than the primary detector. ",
      "Your label is stored in the store and is the gold standard of the agreement statistics. ",
      all ? link("/queue", "show unlabelled only") : link("/queue?all=1", "show labelled steps too")),
    h("div", { class: "labelbar" }, note, status), list, more);
  async function load() {
    const q = new URLSearchParams();
    if (all) q.set("all", "1");
    if (next) { q.set("after_attempt", next[0]); q.set("after_step", next[1]); }
    const data = await api("/api/queue?" + q.toString());
    items.push(...data.items);
    next = data.next;
    more.hidden = !next;
    draw();
  }
  function draw() {
    list.replaceChildren();
    if (!items.length) list.appendChild(h("p", { class: "muted" }, all ? "No disagreements in this store." : "Nothing left to label."));
    items.forEach((it, i) => {
      const sources = [h("span", { class: "src" }, "primary ", it.detector, " ", outcomeBadge(it.outcome))];
      for (const d of it.detectors) if (d.detector !== it.detector) sources.push(h("span", { class: "src" }, d.detector, " ", outcomeBadge(d.outcome)));
      for (const j of it.judges) sources.push(h("span", { class: "src" }, j.judge, " ", outcomeBadge(j.outcome)));
      list.appendChild(h("div", { class: "item" + (i === sel ? " sel" : ""), dataset: { index: i }, onclick: () => { sel = i; draw(); } },
        h("span", { class: "muted" }, String(i + 1)),
        h("div", {}, link(runUrl(it.run_id, it.step), it.model_id + " · " + it.scenario_id + " · " + it.condition + " · run " + it.run_id + " · step " + it.step),
          it.label ? [" ", h("span", { class: "muted" }, "labelled "), outcomeBadge(it.label.outcome), it.label.note ? h("span", { class: "muted" }, " “" + it.label.note + "”") : null] : null,
          h("div", { class: "sources" }, sources))));
    });
    const cur = list.querySelector(".item.sel");
    if (cur) cur.scrollIntoView({ block: "nearest" });
  }
  async function save(outcome) {
    const it = items[sel];
    if (!it) return;
    status.textContent = "saving…";
    try {
      await api("/api/labels", { method: "POST", headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ attempt_id: it.attempt_id, step: it.step, outcome, note: note.value }) });
      it.label = outcome ? { outcome, note: note.value } : null;
      status.textContent = "saved step " + it.step + " of run " + it.run_id + (outcome ? " as " + OUTCOME_TEXT[outcome] : " (cleared)");
      note.value = "";
      if (sel < items.length - 1) sel += 1; else if (next) { await load(); sel = Math.min(sel + 1, items.length - 1); }
      draw();
    } catch (err) {
      status.textContent = "not saved: " + err.message;
    }
  }
  setKeys("j/k or ↓/↑ move · v violated · c complied · n n/a · x clear · / note · o open the step",
    (ev, typing) => {
      if (typing) { if (ev.key === "Escape" || ev.key === "Enter") ev.target.blur(); return; }
      if (ev.key === "j" || ev.key === "ArrowDown") { ev.preventDefault(); sel = Math.min(sel + 1, items.length - 1); draw(); }
      else if (ev.key === "k" || ev.key === "ArrowUp") { ev.preventDefault(); sel = Math.max(sel - 1, 0); draw(); }
      else if (LABEL_KEYS[ev.key]) { ev.preventDefault(); save(LABEL_KEYS[ev.key]); }
      else if (ev.key === "x") { ev.preventDefault(); save(null); }
      else if (ev.key === "/") { ev.preventDefault(); note.focus(); }
      else if (ev.key === "o" && items[sel]) navigate(runUrl(items[sel].run_id, items[sel].step));
    });
  await load();
}

/* ---------------------------------------------------------------- labels vs sources */

async function agreementPage() {
  const data = await api("/api/agreement");
  const num = (x, d) => (x === null || x === undefined ? "—" : x.toFixed(d));
  setMain(h("h1", {}, "Labels vs sources"),
    h("p", { class: "muted" }, "Each detector and judge against your manual labels (the gold standard). Labelled steps are usually picked from disagreements, so read these as agreement on the hard cases."),
    data.sources.length ? h("table", {}, h("tr", {}, ["source", "labelled steps", "accuracy", "κ", "95% CI", "source errored", "note"].map((x) => h("th", {}, x))),
      data.sources.map((s) => h("tr", {}, h("td", {}, s.source), h("td", {}, String(s.n)), h("td", {}, pct(s.accuracy)),
        h("td", {}, num(s.kappa, 2)), h("td", {}, s.ci_low === null ? "—" : num(s.ci_low, 2) + " – " + num(s.ci_high, 2)),
        h("td", {}, String(s.excluded)), h("td", {}, s.note || ""))))
      : h("p", {}, "No labels yet. Label steps in the ", link("/queue", "disagreement queue"), " or on any step page."));
}

route();
