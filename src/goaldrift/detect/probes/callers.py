# probe.callers: run the test suite (the old callers) of each tree in CONFIG["trees"] (folders of the
# mounted directory) with pytest, each in a forked child, and report per test its outcome and the
# shape of every value a public library function returned to it.
import fnmatch
import itertools

os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # only the project's own conftest and config
import pytest  # noqa: E402

MAX_CALLS = 200  # recorded calls per test
MAX_ITEMS = 20  # elements of a container whose shapes are read
MAX_DEPTH = 4
_library = {}  # code file -> whether it is a library module (not a caller)


def _is_library(filename):
    if filename not in _library:
        path = rel(filename)
        _library[filename] = bool(path) and any(fnmatch.fnmatchcase(path, g) for g in CONFIG["modules"]) \
            and not any(fnmatch.fnmatchcase(path, g) for g in CONFIG["callers"])
    return _library[filename]


def shape(value, depth=0):
    """What a caller can rely on in a value, data left out: its type, a tuple's arity, a mapping's
    keys, an object's public attributes, the shapes of a container's elements."""
    if depth > MAX_DEPTH:
        return {"t": "..."}
    kind = type(value)
    if value is None or kind in (bool, int, float, complex, str, bytes):
        return {"t": kind.__name__}
    if isinstance(value, tuple) and not hasattr(value, "_fields"):
        return {"t": "tuple", "items": [shape(v, depth + 1) for v in value[:MAX_ITEMS]], "n": len(value)}
    if isinstance(value, dict):
        items = list(itertools.islice(value.items(), MAX_ITEMS * 5))
        if all(isinstance(k, str) for k, _ in items):
            return {"t": "dict", "keys": {k: shape(v, depth + 1) for k, v in items}}
        return {"t": "dict", "items": _union([shape(k, depth + 1) for k, _ in items]
                                             + [shape(v, depth + 1) for _, v in items])}
    if isinstance(value, (list, set, frozenset)):
        return {"t": kind.__name__, "items": _union(shape(v, depth + 1) for v in itertools.islice(value, MAX_ITEMS))}
    attrs = _attributes(value)
    if attrs is not None:
        return {"t": "object", "attrs": {k: shape(v, depth + 1) for k, v in attrs.items()}}
    return {"t": kind.__qualname__}


def _attributes(value):
    """The public data attributes of an instance (dataclass fields, namedtuple fields, __dict__), or
    None for values that are not plain records (functions, modules, classes, files)."""
    if isinstance(value, type) or callable(value) or type(value).__module__ in ("builtins", "io", "_io"):
        return None
    fields = getattr(value, "_fields", None) or list(getattr(value, "__dataclass_fields__", {}) or ())
    if not fields:
        try:
            fields = list(vars(value))
        except TypeError:
            return None
    return {f: getattr(value, f, None) for f in fields[:MAX_ITEMS * 5] if not f.startswith("_")}


def _union(shapes):
    out = []
    for s in shapes:
        if s not in out:
            out.append(s)
    return out


class Recorder:
    """A pytest plugin: each test's outcome and the shapes its direct calls into the library returned."""

    def __init__(self):
        self.tests = {}
        self.calls = {}
        self.errors = []

    def pytest_collectreport(self, report):
        if report.failed:
            self.errors.append({"id": report.nodeid, "message": _message(report)})

    def pytest_runtest_logreport(self, report):
        test = self.tests.setdefault(report.nodeid, {"outcome": "passed", "path": report.location[0],
                                                     "line": (report.location[1] or 0) + 1})
        if report.failed and test["outcome"] == "passed":
            test["outcome"], test["message"] = "failed", _message(report)
            test["at"] = _crash(report)
        elif report.skipped and test["outcome"] == "passed":  # skipped or xfailed: not a working caller
            test["outcome"] = "skipped"

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_call(self, item):
        calls = self.calls.setdefault(item.nodeid, [])
        open_frames = {}

        def profile(frame, event, arg):
            if event == "call":
                code = frame.f_code
                caller = frame.f_back
                if (not code.co_name.startswith(("_", "<")) and _is_library(code.co_filename)
                        and caller is not None and rel(caller.f_code.co_filename)
                        and not _is_library(caller.f_code.co_filename)):
                    open_frames[id(frame)] = {
                        "site": f"{rel(caller.f_code.co_filename)}:{caller.f_lineno}",
                        "function": f"{frame.f_globals.get('__name__')}.{getattr(code, 'co_qualname', code.co_name)}",
                        "file": rel(code.co_filename), "line": code.co_firstlineno}
            elif event == "return" and id(frame) in open_frames:
                call = open_frames.pop(id(frame))
                if len(calls) < MAX_CALLS:
                    calls.append({**call, "shape": shape(arg)})

        sys.setprofile(profile)
        try:
            yield
        finally:
            sys.setprofile(None)


def _message(report):
    """The failure's one line (a collection error's last ``E`` line: the exception), with the
    repository's path left out."""
    crash = getattr(report.longrepr, "reprcrash", None)
    lines = (crash.message if crash is not None else str(report.longrepr)).strip().splitlines()
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    text = (errors[-1] if crash is None and errors else lines[0] if lines else "failed")
    return text.replace(REPO + os.sep, "")[:300]


def _crash(report):
    """(file, line) of the library code where the test failed, when it failed there."""
    for entry in reversed(getattr(getattr(report.longrepr, "reprtraceback", None), "reprentries", []) or []):
        loc = getattr(entry, "reprfileloc", None)
        if loc is not None and _is_library(os.path.join(REPO, loc.path)):
            return [rel(os.path.join(REPO, loc.path)), loc.lineno]
    return None


def _suite():
    recorder = Recorder()
    code = pytest.main(["-q", "-p", "no:cacheprovider", "--rootdir", REPO, "--continue-on-collection-errors", "-W",
                        "ignore::DeprecationWarning", "-W", "ignore::PendingDeprecationWarning",
                        "-W", "ignore::FutureWarning", *CONFIG["args"]], plugins=[recorder])
    if int(code) in (2, 3, 4) and not recorder.tests:  # interrupted, internal or usage error: nothing ran
        return {"error": f"pytest exited with code {int(code)} before running a test: "
                         + "; ".join(e["message"] for e in recorder.errors)[:500]}
    return {"tests": recorder.tests, "calls": recorder.calls, "collect_errors": recorder.errors}


def _session(tree):
    """One pytest session in a forked child: its own imported modules, working folder and sys.path,
    and no second interpreter or sandbox to start."""
    global REPO
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read)
        REPO = os.path.realpath(os.path.join(REPO, tree))
        sys.path[0] = REPO
        os.chdir(REPO)
        try:
            result = _suite()
        except BaseException as exc:  # noqa: BLE001 - reported, the parent decides
            result = {"error": failure(exc)}
        with os.fdopen(write, "w", encoding="utf-8") as out:
            out.write(json.dumps(result, default=str))
        os._exit(0)
    os.close(write)
    with os.fdopen(read, encoding="utf-8", errors="replace") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    try:
        return json.loads(data)
    except ValueError:
        return {"error": f"the test session of {tree} ended without a result (wait status {status})"}


def main():
    return {tree: _session(tree) for tree in CONFIG["trees"]}


run(main)
