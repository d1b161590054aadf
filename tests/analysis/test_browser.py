"""The report renders in headless Chromium without JavaScript errors."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from goaldrift.report import write_report

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None)

HOSTILE = "exp</script><!--<script>alert(1)//\u2028&amp;"

_PROBE = """<script>
window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push("error: " + e.message); });
window.addEventListener("unhandledrejection", function (e) { window.__errors.push("rejection: " + e.reason); });
(function () { var orig = console.error; console.error = function () {
  window.__errors.push("console.error: " + Array.prototype.join.call(arguments, " ")); orig.apply(console, arguments); }; })();
window.addEventListener("load", function () {
  var cell = document.querySelector("td[data-detail]");
  if (cell) { cell.click(); }
  var box = document.getElementById("detail");
  var m = document.createElement("div");
  m.id = "probe-result";
  m.setAttribute("data-errors", String(window.__errors.length));
  m.setAttribute("data-detail-shown", box && box.style.display === "block" ? "yes" : "no");
  m.setAttribute("data-images", String(Array.prototype.filter.call(document.images, function (i) { return i.complete && i.naturalWidth > 0; }).length));
  var name = "";
  try { name = JSON.parse(document.getElementById("goaldrift-data").textContent).provenance.experiments[0].name; }
  catch (e) { window.__errors.push("embedded JSON: " + e); }
  m.setAttribute("data-name", encodeURIComponent(name));
  m.textContent = window.__errors.join(" | ");
  document.body.appendChild(m);
});
</script>"""


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed (/usr/bin/chromium)")
def test_report_renders_without_console_errors(small_store, tmp_path):
    """Also: an experiment named like markup (issue 14, item 10) cannot break the embedded JSON."""
    import sqlite3
    from urllib.parse import unquote

    store = tmp_path / "store.db"
    shutil.copy(small_store, store)
    db = sqlite3.connect(store)
    db.execute("UPDATE experiments SET name = ?", (HOSTILE,))
    db.commit()
    db.close()
    html_path = write_report(store, tmp_path / "report.html")
    html = html_path.read_text(encoding="utf-8")
    probed = tmp_path / "probed.html"
    probed.write_text(html.replace("<head>", "<head>" + _PROBE, 1), encoding="utf-8")
    profile = tmp_path / "profile"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000",
           "--dump-dom", probed.as_uri()]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    dom = res.stdout
    m = re.search(r'<div id="probe-result" data-errors="(\d+)" data-detail-shown="(\w+)" data-images="(\d+)" '
                  r'data-name="([^"]*)">(.*?)</div>', dom, re.DOTALL)
    assert m, f"probe did not run; chromium rc={res.returncode} stderr tail: {res.stderr[-2000:]}"
    assert m.group(1) == "0", f"JavaScript errors: {m.group(5)}"
    assert m.group(2) == "yes", "clicking a timeline cell did not show its details"
    assert int(m.group(3)) >= 3, "figures did not decode"
    assert unquote(m.group(4)) == HOSTILE, "the embedded JSON did not round-trip the experiment name"
    console_errors = [ln for ln in res.stderr.splitlines() if "CONSOLE" in ln and "file://" in ln]
    assert not console_errors, console_errors
