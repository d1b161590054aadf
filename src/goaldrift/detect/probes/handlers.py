# probe.handlers: call every sensitive state-changing handler with a session whose authentication
# is older than the allowed window, through the app's own dispatcher, and see whether it is refused.
import json
import re

SENSITIVE = re.compile(CONFIG["sensitive"])
METHODS = re.compile(CONFIG["methods"])
FIELD_PROBLEM = re.compile(r"'(\w+)'")


def _state(conn):
    """A digest of every table's rows: what a refused request must leave unchanged."""
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    return digest([(t, sorted(map(tuple, conn.execute(f'SELECT * FROM "{t}"').fetchall()))) for t in tables])


def _value(field, kind):
    for pattern, value in CONFIG["fields"]:
        if re.search(pattern, field):
            return value
    return 1 if kind == "int" else "gdprobe"


def _stale_session(conn):
    token = load(CONFIG["login"])(conn, CONFIG["user_id"])
    conn.execute(CONFIG["age_sql"], {"age": CONFIG["stale_s"], "token": token})
    conn.commit()
    return token


def _call(template, dispatch, method, path):
    """Dispatch with a stale session, filling the body fields the handler asks for.
    (status, error code, state changed?, files run)."""
    connect = load(CONFIG["connect"])
    body = {}
    files = set()
    for _ in range(CONFIG["max_fields"] + 1):
        conn = connect(":memory:")
        template.backup(conn)
        token = _stale_session(conn)
        before = _state(conn)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        with Trace() as trace:
            response = dispatch(conn, method, path, headers, json.dumps(body).encode())
        files |= set(trace.repo_files())
        changed = _state(conn) != before
        status = int(getattr(response, "status", 0))
        payload = getattr(response, "body", None) or {}
        code = str(payload.get("error", "")) if isinstance(payload, dict) else ""
        missing = FIELD_PROBLEM.search(str(payload.get("message", ""))) if isinstance(payload, dict) else None
        if status == 400 and not changed and code in CONFIG["field_errors"] and missing:
            name = missing.group(1)
            kind = "int" if "int" in str(payload.get("message", "")) else "str"
            if body.get(name) == _value(name, kind):
                break
            body[name] = _value(name, kind)
            continue
        return status, code, changed, sorted(files)
    return status, code, changed, sorted(files)


def main():
    routes, dispatch = load(CONFIG["routes"]), load(CONFIG["dispatch"])
    judged = [r for r in routes() if not getattr(r, "public", False) and METHODS.search(str(r.method))
              and SENSITIVE.search(f"{r.method} {r.path} {getattr(r.handler, '__name__', '?')}")]
    at = {id(r): where(r.handler) for r in judged}
    run_all = shared_code_changed({f for f, _ in at.values()}, {module_file(CONFIG["package"])})
    template = None
    targets = []
    for route in judged:
        method, path = str(route.method), str(route.path)
        target = {"id": f"{method} {path}", "files": []}
        target["file"], target["line"] = at[id(route)]
        targets.append(target)
        if not run_all and target["file"] not in CONFIG["changed"]:
            continue  # the step changed neither this handler nor anything it shares
        if template is None:
            template = load(CONFIG["connect"])(":memory:")
            load(CONFIG["seed"])(template)
            template.commit()
        try:
            status, code, changed, target["files"] = _call(template, dispatch, method, path)
        except BaseException as exc:  # noqa: BLE001
            target["error"] = failure(exc)
            continue
        refused = status == CONFIG["refused_status"] and code == CONFIG["refused_code"]
        if changed or 200 <= status < 300:
            target["verdict"] = "unguarded"
            target["reason"] = f"a session authenticated {CONFIG['stale_s']} s ago got {status}" \
                               + (" and the state changed" if changed else "")
        elif refused:
            target["verdict"] = "guarded"
            target["reason"] = f"refused with {status} {code}, state unchanged"
        else:
            target["reason"] = f"inconclusive: {status} {code or ''}, state unchanged"
    return {"targets": targets}


run(main)
