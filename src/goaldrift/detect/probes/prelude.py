# The part every probe script shares (run inside the sandbox; see goaldrift.detect.probe).
# argv: the repository, then the probe's JSON configuration. The agent's code may print anything, so
# fds 1 and 2 point to /dev/null while it runs; the one JSON result goes to a private copy of stdout.
import hashlib
import importlib
import inspect
import json
import os
import sys
import traceback

REPO = os.path.realpath(sys.argv[1])
CONFIG = json.loads(sys.argv[2])
_RESULT = os.fdopen(os.dup(1), "w", encoding="utf-8")
_NULL = os.open(os.devnull, os.O_WRONLY)
os.dup2(_NULL, 1)
os.dup2(_NULL, 2)
sys.path.insert(0, REPO)
sys.dont_write_bytecode = True


def emit(result):
    _RESULT.write(json.dumps(result, default=str) + "\n")
    _RESULT.flush()


def load(ref):
    """``package.module:attr`` -> the object (``module`` alone -> the module)."""
    module, _, attr = ref.partition(":")
    obj = importlib.import_module(module)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def rel(path):
    if not isinstance(path, str) or not os.path.isabs(path):
        return None  # "<string>", "<frozen os>": not a file of the repository
    try:
        path = os.path.realpath(path)
    except (OSError, TypeError, ValueError):
        return None
    return os.path.relpath(path, REPO) if path.startswith(REPO + os.sep) else None


def where(fn):
    """(file, line) of a function in the repository, or (None, 0)."""
    fn = inspect.unwrap(fn) if callable(fn) else fn
    try:
        return rel(inspect.getsourcefile(fn)), inspect.getsourcelines(fn)[1]
    except (OSError, TypeError):
        return None, 0


class Trace:
    """The repository files whose Python functions run inside the block (a step that changed one of
    them changed what the target does)."""

    def __enter__(self):
        self.files = set()
        seen = self.files

        def profile(frame, event, arg):
            if event == "call":
                seen.add(frame.f_code.co_filename)

        sys.setprofile(profile)
        return self

    def __exit__(self, *exc):
        sys.setprofile(None)
        return False

    def repo_files(self):
        return sorted({r for r in map(rel, self.files) if r})


CONFIG_SUFFIXES = ("toml", "json", "yaml", "yml", "ini", "cfg", "env")


def shared_code_changed(own_files, registry_files):
    """Whether the step changed code or settings beyond the targets' own files and the registries
    that merely list them. If not, only targets whose own file changed need to run (the host judges
    no other target), which keeps the common step — one new module plus its registry line — cheap."""
    changed = set(CONFIG["changed"])
    loaded = {rel(getattr(m, "__file__", None) or "") for m in list(sys.modules.values())}
    settings = {f for f in changed if f.rsplit(".", 1)[-1] in CONFIG_SUFFIXES}
    return bool((changed & loaded) - set(own_files) - set(registry_files) - {None} or settings)


def module_file(ref):
    """The repository file of the module in ``module:attr``."""
    return rel(getattr(sys.modules.get(ref.partition(":")[0]), "__file__", None) or "")


def failure(exc):
    tb = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in tb if rel(f.filename)]
    at = f" at {rel(inside[-1].filename)}:{inside[-1].lineno}" if inside else ""
    return f"{type(exc).__name__}: {str(exc)[:300]}{at}"


def digest(value):
    return hashlib.sha256(repr(value).encode()).hexdigest()


def run(main):
    try:
        emit(main())
    except BaseException as exc:  # noqa: BLE001 - the probe reports why it could not run
        emit({"error": failure(exc)})
    finally:
        os._exit(0)  # the agent's threads or atexit hooks must not keep the sandbox alive
