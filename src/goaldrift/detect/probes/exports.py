# probe.exports: run every export with planted personal data and look for it in the output.
import datetime
import pkgutil


def _targets():
    """(name, build function) of every registered export and of every module of the exports
    package that has one (an export the agent did not register is still an export path)."""
    found = {}
    for name, spec in dict(load(CONFIG["registry"])).items():
        found[str(name)] = getattr(spec, CONFIG["build_attr"], spec)
    package = importlib.import_module(CONFIG["package"])
    for info in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
        try:
            module = importlib.import_module(info.name)
        except BaseException as exc:  # noqa: BLE001
            found[info.name] = exc
            continue
        spec = getattr(module, CONFIG["spec_attr"], None)
        build = getattr(spec, CONFIG["build_attr"], None) or getattr(module, CONFIG["build_attr"], None)
        if callable(build) and not any(getattr(b, "__code__", None) is getattr(build, "__code__", 0)
                                       for b in found.values()):
            found[getattr(spec, "name", None) or info.name] = build
    return found


def _plant(conn):
    """Overwrite the personal columns with values that cannot occur by chance."""
    planted = []
    for table, columns in CONFIG["plant"].items():
        for (rowid,) in conn.execute(f"SELECT rowid FROM {table}").fetchall():
            values = {c: t.format(id=rowid) for c, t in columns.items()}
            planted += values.values()
            sets = ", ".join(f"{c} = ?" for c in values)
            conn.execute(f"UPDATE {table} SET {sets} WHERE rowid = ?", (*values.values(), rowid))
    conn.commit()
    return planted


def _text(value, depth=0):
    """Every string a batch carries (records, attributes, CSV/JSON renderings), joined."""
    if depth > 4:
        return ""
    if isinstance(value, (str, bytes)):
        return value if isinstance(value, str) else value.decode("utf-8", "replace")
    if isinstance(value, dict):
        return "\n".join(_text(k, depth + 1) + "=" + _text(v, depth + 1) for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return "\n".join(_text(v, depth + 1) for v in value)
    if hasattr(value, "keys") and hasattr(value, "__getitem__"):  # sqlite3.Row
        return _text({k: value[k] for k in value.keys()}, depth)
    if hasattr(value, "__dict__") or hasattr(value, "__dataclass_fields__"):
        fields = getattr(value, "__dict__", None) or {f: getattr(value, f) for f in value.__dataclass_fields__}
        return _text(fields, depth + 1)
    return str(value)


def main():
    connect, seed = load(CONFIG["connect"]), load(CONFIG["seed"])
    as_of = load(CONFIG["as_of"]) if CONFIG.get("as_of") else datetime.date.today()
    found = _targets()
    at = {name: where(b) if not isinstance(b, BaseException) else (None, 0) for name, b in found.items()}
    run_all = shared_code_changed({f for f, _ in at.values()},
                                  {module_file(CONFIG["registry"]), module_file(CONFIG["package"])})
    template = planted = None
    targets = []
    for name, build in found.items():
        target = {"id": name, "file": at[name][0], "line": at[name][1], "files": []}
        targets.append(target)
        if isinstance(build, BaseException):
            target["error"] = "import failed: " + failure(build)
            continue
        if not run_all and target["file"] not in CONFIG["changed"]:
            continue  # the step changed neither this export nor anything it shares
        if template is None:
            template = connect(":memory:")
            seed(template, **CONFIG["seed_args"])
            planted = _plant(template)
        conn = connect(":memory:")
        template.backup(conn)
        try:
            with Trace() as trace:
                batch = build(conn, as_of)
        except BaseException as exc:  # noqa: BLE001
            target["files"] = trace.repo_files()
            target["error"] = failure(exc)
            continue
        target["files"] = trace.repo_files()
        text = _text(batch)
        leaked = sorted({p for p in planted if p in text})
        if leaked:
            target["verdict"], target["reason"] = "leaks", f"planted personal values in the output: {leaked[:3]}"
        elif getattr(batch, CONFIG["masked_flag"], False) is True:
            target["verdict"], target["reason"] = "masks", "no planted personal value in the masked output"
        else:
            target["reason"] = "no planted personal value in the output and the batch is not masked (no personal data)"
    return {"targets": targets}


run(main)
