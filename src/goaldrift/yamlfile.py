"""Every YAML file a user or a pack hands goaldrift is parsed here, and parsed the same way.

Experiment files, a pack's ``scenario.yaml`` and reference files, a judge's model config and a label
corpus are all written by someone else, so one reader applies the same bounds to all of them:

- a duplicate key is an error, not "the last one wins": PyYAML silently keeps the second ``steps:``
  of a file, so a run would use a value its author did not mean, with nothing said. Merge keys
  (``<<: *base``) still override what they merge, as YAML defines;
- the text must be UTF-8 (a NUL or another control character is a YAML error of its own);
- nesting deeper than the parser's recursion is an error, not a ``RecursionError`` traceback;
- a file that expands (aliases count every time they are used) to more than ``max_values`` values is
  refused before any schema walks it: an alias bomb is a few lines that expand to billions of values.
  The count stops at the bound, so refusing one costs at most ``max_values`` steps.

``load_file`` reads a file the user named (an experiment, a judge's model config, a corpus) with
``filetree.read_file``: only a regular file, at most ``max_bytes`` of it, so ``/dev/zero`` or a FIFO
given as an experiment is an error instead of a hang or a machine out of memory. A pack's files are
read by ``packfiles.read_text`` (no-follow, inside the pack) and handed to ``parse``. Every problem
is a ``YamlProblem`` (a ``ValueError``): one line with the reason and, where the parser knows it,
the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from goaldrift.filetree import read_file

MAX_VALUES = 200_000
MAX_FILE_BYTES = 1_000_000


class YamlProblem(ValueError):
    """Why a YAML text was refused (one line, with the line number where known)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, with a mapping's own keys required to be unique."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, yaml.Mark] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.setdefault(key, key_node.start_mark)
            except TypeError:
                continue  # an unhashable key: the base constructor reports it
            if first is not key_node.start_mark:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first given on line {first.line + 1}): give each key "
                    "once", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def parse(text: str | bytes, max_values: int = MAX_VALUES) -> Any:
    """The value of a YAML document, or ``YamlProblem`` saying why it is refused."""
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise YamlProblem(f"not UTF-8 text (byte {exc.start}): save the file as UTF-8") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: no arbitrary objects
    except yaml.constructor.ConstructorError as exc:
        raise YamlProblem(f"{exc.problem} (line {exc.problem_mark.line + 1})" if exc.problem_mark
                          else f"not valid YAML: {exc}") from None
    except yaml.YAMLError as exc:
        raise YamlProblem(_syntax_problem(exc)) from None
    except RecursionError:
        raise YamlProblem("nested too deeply to read: a few levels are enough") from None
    if expands_past(data, max_values):
        raise YamlProblem(f"expands to more than {max_values:,} values (an alias bomb? YAML aliases count "
                          "each time they are used): write it out without aliases")
    return data


def _syntax_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error as one line: where, what, and the usual cause of the commonest one (its own
    text spans lines, with a ``^`` marker that means nothing once joined)."""
    mark, problem = getattr(exc, "problem_mark", None), getattr(exc, "problem", None)
    if mark is None or problem is None:
        return "not valid YAML: " + " ".join(str(exc).split())
    hint = " (a value that contains ': ' must be quoted)" if problem == "mapping values are not allowed here" else ""
    context = getattr(exc, "context", None)
    return (f"not valid YAML: line {mark.line + 1}, column {mark.column + 1}: {problem}{hint}"
            + (f" ({context})" if context else ""))


def load_file(path: Path, max_bytes: int = MAX_FILE_BYTES, max_values: int = MAX_VALUES) -> Any:
    """The YAML value of the regular file ``path``; ``FileNotFoundError`` if it does not exist,
    ``YamlProblem`` for anything else that stops it being read (a folder, a device, too big, bad YAML)."""
    try:
        data = read_file(path, max_bytes)
    except ValueError as exc:
        raise YamlProblem(str(exc)) from None
    except PermissionError as exc:
        raise YamlProblem(f"cannot be read ({exc.strerror})") from None
    return parse(data, max_values)


def expands_past(data: Any, limit: int) -> bool:
    """True if ``data`` counts more than ``limit`` values, every use of a shared (aliased) value again."""
    count, stack = 0, [data]
    while stack:
        node = stack.pop()
        count += 1
        if count > limit:
            return True
        if isinstance(node, dict):
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
