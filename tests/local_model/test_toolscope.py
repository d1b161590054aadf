"""Tools hidden from a small model and path arguments scoped to the workspace (no model needed)."""

from __future__ import annotations

import json
import os
import re

import pytest

from goaldrift.localmodel.toolgrammar import ToolMode, build_grammar
from goaldrift.localmodel.toolscope import scoped_tools, visible_tools, workspace_tree


def _tool(name, **props):
    return {"type": "function", "function": {"name": name, "parameters": {
        "type": "object", "properties": props, "required": list(props)}}}


ABS = {"type": "string", "description": "The absolute path to the file to read"}
OPENCODE_LIKE = [
    _tool("read", filePath=ABS),
    _tool("edit", filePath=ABS, oldString={"type": "string"}, newString={"type": "string"}),
    _tool("write", filePath={"type": "string", "description": "The absolute path to the file to write"},
          content={"type": "string"}),
]


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    (root / "crm" / "exports").mkdir(parents=True)
    (root / "crm" / "exporting.py").write_text("x = 1\n")
    (root / "crm" / "exports" / "__init__.py").write_text("")
    (root / "README.md").write_text("hi\n")
    (root / ".git").mkdir()
    (root / ".git" / "config").write_text("")
    (root / "crm" / "__pycache__").mkdir()
    (tmp_path / "secret.txt").write_text("no")
    os.symlink(tmp_path / "secret.txt", root / "link.txt")
    os.symlink(tmp_path, root / "outside")
    return root


def test_hidden_tools_are_removed_but_never_all():
    names = [t["function"]["name"] for t in visible_tools(OPENCODE_LIKE, ["edit"])]
    assert names == ["read", "write"]
    assert visible_tools(OPENCODE_LIKE, []) is OPENCODE_LIKE
    assert len(visible_tools(OPENCODE_LIKE, ["read", "edit", "write"])) == 3


def test_workspace_tree_lists_names_without_following_links(repo):
    files, dirs = workspace_tree(repo)
    assert files == ["README.md", "crm/exporting.py", "crm/exports/__init__.py"]
    assert dirs == ["", "crm", "crm/exports"]  # no .git, no __pycache__, no linked directory


def test_scoped_paths_are_absolute_when_the_harness_asks_for_absolute_paths(repo):
    read, edit, write = scoped_tools(OPENCODE_LIKE, repo)
    assert read["function"]["parameters"]["properties"]["filePath"]["enum"] == [
        f"{repo}/README.md", f"{repo}/crm/exporting.py", f"{repo}/crm/exports/__init__.py"]
    assert edit["function"]["parameters"]["properties"]["oldString"] == {"type": "string"}
    pattern = write["function"]["parameters"]["properties"]["filePath"]["pattern"]
    assert re.fullmatch(pattern, f"{repo}/crm/exports/churn_calls.py")  # a new file in an existing directory
    assert re.fullmatch(pattern, f"{repo}/crm/exporting.py")  # or an existing one
    for wrong in (f"{repo}/crm/missing/x.py", "/etc/passwd", "crm/exports/x.py", f"{repo}/crm/exports/a/b.py"):
        assert not re.fullmatch(pattern, wrong)
    assert OPENCODE_LIKE[0]["function"]["parameters"]["properties"]["filePath"] == ABS  # the request is not changed


def test_scoped_paths_are_relative_otherwise(repo):
    (tool,) = scoped_tools([_tool("read_file", path={"type": "string", "description": "path in the repo"})], repo)
    assert tool["function"]["parameters"]["properties"]["path"]["enum"][0] == "README.md"


def test_scoped_paths_compile_into_a_grammar_that_spells_only_those_paths(repo):
    pytest.importorskip("llama_cpp")
    from llama_cpp import LlamaGrammar

    grammar = build_grammar(scoped_tools(visible_tools(OPENCODE_LIKE, ["edit"]), repo), ToolMode("required"))
    LlamaGrammar.from_string(grammar, verbose=False)  # valid GBNF (a backslash escape would not be)
    assert json.dumps(json.dumps(f"{repo}/crm/exporting.py")) in grammar
    assert "secret" not in grammar and "oldString" not in grammar and "/etc" not in grammar


def test_a_relative_writing_path_and_a_readable_directory(repo):
    pytest.importorskip("llama_cpp")
    from llama_cpp import LlamaGrammar

    tools = [_tool("write_file", path={"type": "string"}, content={"type": "string"}),
             _tool("read", filePath={"type": "string", "description": "The absolute path to the file or directory"})]
    write, read = scoped_tools(tools, repo)
    pattern = write["function"]["parameters"]["properties"]["path"]["pattern"]
    assert re.fullmatch(pattern, "new.py") and re.fullmatch(pattern, "crm/exports/new.py")
    assert not re.fullmatch(pattern, "/abs/new.py") and not re.fullmatch(pattern, "nope/new.py")
    assert {str(repo), f"{repo}/crm"} <= set(read["function"]["parameters"]["properties"]["filePath"]["enum"])
    LlamaGrammar.from_string(build_grammar([write, read], ToolMode("auto")), verbose=False)


def test_the_listing_is_bounded_whatever_the_agent_creates(tmp_path):
    from goaldrift.localmodel.toolscope import MAX_ENTRIES

    for i in range(MAX_ENTRIES):
        (tmp_path / f"d{i}").mkdir()
        (tmp_path / f"d{i}" / "f.py").write_text("")
    files, dirs = workspace_tree(tmp_path)
    assert len(files) + len(dirs) <= MAX_ENTRIES
