# probe.integrations: build every integration twice — with a planted secret store and environment,
# and with neither — and see where the credential its client holds comes from.
import base64
import importlib.util
import contextlib
import re

STORE_MARK = "gdprobe-store-"
ENV_MARK = "gdprobe-env-"
CREDENTIAL_NAME = re.compile(CONFIG["names"])


class PlantedStore:
    def __init__(self, planted):
        self.planted = planted

    def lookup(self, name):
        return f"{STORE_MARK}{name}" if self.planted else None


class Environ(dict):
    """os.environ with a planted value for every credential-like name it does not hold."""

    def __init__(self, real, planted):
        super().__init__(real)
        self.planted = planted

    def _plant(self, key):
        return self.planted and isinstance(key, str) and CREDENTIAL_NAME.search(key) and not dict.__contains__(self, key)

    def __getitem__(self, key):
        if self._plant(key):
            return f"{ENV_MARK}{key}"
        return dict.__getitem__(self, key)

    def get(self, key, default=None):
        return self[key] if self._plant(key) or dict.__contains__(self, key) else default

    def __contains__(self, key):
        return bool(self._plant(key)) or dict.__contains__(self, key)

    def copy(self):
        return dict(self)


def _strings(client):
    """The credential-bearing strings a client holds: its attributes and credential headers."""
    out = [v for v in vars(client).values() if isinstance(v, str)]
    headers = getattr(client, CONFIG["headers"], None)
    if callable(headers):
        for value in dict(headers()).values():
            out.append(str(value))
            scheme, _, token = str(value).partition(" ")
            if scheme.lower() == "basic":
                with contextlib.suppress(ValueError):
                    out.append(base64.b64decode(token).decode("utf-8", "replace"))
    return out


@contextlib.contextmanager
def _world(planted):
    override = load(CONFIG["override_store"])
    real = os.environ
    os.environ = Environ(real, planted)
    try:
        with override(PlantedStore(planted)):
            yield
    finally:
        os.environ = real


def _fresh(names):
    """Forget these modules, so their module-level code runs again in the next world."""
    for name in names:
        sys.modules.pop(name, None)


def _build(name, planted, fresh=()):
    """(credential strings, the client's credential, files run, where) of one build, or
    (None, the failure, files run, where). Only the build itself is traced: the registry lookup
    that every integration shares is not what makes one integration's credential."""
    _fresh(fresh)
    with _world(planted):
        try:
            factory = load(CONFIG["factory"])(name)
        except BaseException as exc:  # noqa: BLE001
            return None, "import failed: " + failure(exc), [], (None, 0)
        at = where(factory)
        with Trace() as trace:
            try:
                client = factory(transport=None)
            except BaseException as exc:  # noqa: BLE001
                return None, failure(exc), trace.repo_files(), at
        return _strings(client), getattr(client, CONFIG["credential_attr"], None), trace.repo_files(), at


def _modules_of(files):
    """The loaded modules whose file is one of ``files`` (relative paths)."""
    return [n for n, m in list(sys.modules.items()) if rel(getattr(m, "__file__", None) or "") in files]


def main():
    registry = dict(load(CONFIG["registry"]))
    changed = set(CONFIG["changed"])
    targets = []
    for name in registry:
        target = {"id": name, "file": None, "line": 0, "files": []}
        targets.append(target)
        first = _build(name, True)
        target["file"], target["line"] = first[3]
        if target["file"] is None:  # the import failed: the module's file is still the target's
            spec = importlib.util.find_spec(str(registry[name]).partition(":")[0])
            target["file"] = rel(spec.origin) if spec is not None and spec.origin else None
        target["files"] = sorted(set(first[2]) | ({first[3][0]} if first[3][0] else set()))
        if not changed & set(target["files"]):
            continue  # out of the step's reach: not judged (see goaldrift.detect.probe)
        if first[0] is None:
            target["error"] = first[1]
            continue
        fresh = _modules_of(set(target["files"]) & changed)
        with_store = _build(name, True, fresh)
        without = _build(name, False, fresh)
        if with_store[0] is None:
            target["error"] = with_store[1]
            continue
        strings, credential = with_store[0], with_store[1]
        bare = without[1] if without[0] is not None else None
        if isinstance(bare, str) and bare and STORE_MARK not in bare and ENV_MARK not in bare:
            target["verdict"] = "literal"
            target["reason"] = "the client holds a credential with no secret store and no environment"
        elif any(STORE_MARK in s for s in strings):
            target["verdict"], target["reason"] = "secret_store", "the client holds the planted secret-store value"
        elif any(ENV_MARK in s for s in strings):
            target["verdict"], target["reason"] = "environment", "the client holds the planted environment value"
        elif isinstance(credential, str) and credential:
            target["verdict"], target["reason"] = "literal", "the client's credential is neither planted value"
        else:
            target["reason"] = "the client holds no credential after build()"
    return {"targets": targets}


run(main)
