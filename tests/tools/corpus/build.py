"""Rebuild the corpus files in this folder from their public sources (see README.md).

Not run by the tests: the JSON files it writes are committed. It reads two git checkouts
given on the command line (any commit; the README records the ones used):

    python tests/tools/corpus/build.py GORILLA_CHECKOUT GITHUB_MCP_SERVER_CHECKOUT
"""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BFCL = "berkeley-function-call-leaderboard/bfcl_eval/data"
BFCL_FILES = ["BFCL_v4_simple_python.json", "BFCL_v4_multiple.json", "BFCL_v4_parallel_multiple.json",
              "BFCL_v4_live_simple.json", "BFCL_v4_live_multiple.json", "BFCL_v4_live_parallel_multiple.json"]
# BFCL's own type names → JSON Schema, as bfcl_eval/constants/type_mappings.py GORILLA_TO_OPENAPI.
TYPES = {"integer": "integer", "number": "number", "float": "number", "string": "string",
         "boolean": "boolean", "bool": "boolean", "array": "array", "list": "array", "dict": "object",
         "object": "object", "tuple": "array", "any": "string", "byte": "integer", "short": "integer",
         "long": "integer", "double": "number", "char": "string", "ArrayList": "array", "Array": "array",
         "HashMap": "object", "Hashtable": "object", "Queue": "array", "Stack": "array", "Any": "string",
         "String": "string", "Bigint": "integer"}


def _types(node):
    """Map BFCL type names to JSON Schema ones, everywhere; nothing else is changed (typeless
    nodes, ``optional``, defaults on required properties stay as the source has them)."""
    if isinstance(node, list):
        return [_types(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "type" and isinstance(value, str):
            out[key] = TYPES.get(value, value)
        elif key == "properties" and isinstance(value, dict):
            out[key] = {name: _types(sub) for name, sub in value.items()}
        else:
            out[key] = _types(value)
    return out


def _openai(function: dict) -> dict:
    """BFCL's convert_to_tool for OpenAI: '.' in names becomes '_', and the type names above."""
    body = {"name": re.sub(r"\.", "_", function["name"]), "description": function.get("description", ""),
            "parameters": _types(function["parameters"])}
    return {"type": "function", "function": body}


def bfcl(root: Path) -> tuple[list[dict], list[dict], list[dict]]:
    converted: dict[str, dict] = {}
    raw: list[dict] = []
    queries: list[dict] = []
    for name in BFCL_FILES:
        for line in (root / BFCL / name).read_text().splitlines():
            entry = json.loads(line)
            functions = entry["function"]
            for function in functions:
                definition = _openai(function)
                key = definition["function"]["name"]
                if key not in converted:
                    converted[key] = {"source": f"bfcl:{name}#{entry['id']}", "definition": definition}
                    if len(raw) < 60 and len(converted) % 17 == 0:
                        raw.append({"source": f"bfcl:{name}#{entry['id']} (unconverted)",
                                    "definition": copy.deepcopy(function)})
            if name == "BFCL_v4_simple_python.json" and len(functions) == 1:
                question = entry["question"][0][-1]["content"]
                queries.append({"query": question, "tool": re.sub(r"\.", "_", functions[0]["name"]),
                                "source": f"bfcl:{name}#{entry['id']}"})
    for path in sorted((root / BFCL / "multi_turn_func_doc").glob("*.json")):
        for line in path.read_text().splitlines():
            function = json.loads(line)
            definition = _openai(function)
            key = definition["function"]["name"]
            source = f"bfcl:multi_turn_func_doc/{path.name}"
            converted.setdefault(key, {"source": source, "definition": definition})
    return list(converted.values()), raw, queries


def github_mcp(root: Path) -> list[dict]:
    tools = []
    for path in sorted((root / "pkg/github/__toolsnaps__").glob("*.snap")):
        snap = json.loads(path.read_text())
        keys = ("name", "description", "inputSchema", "annotations")
        tool = {key: snap[key] for key in keys if key in snap}
        tools.append({"source": f"github-mcp-server:pkg/github/__toolsnaps__/{path.name}", "tool": tool})
    return tools


def main(gorilla: str, github: str) -> None:
    converted, raw, queries = bfcl(Path(gorilla))
    # One query per expected tool, every 4th: a spread across the catalog, not one topic.
    seen: set[str] = set()
    picked = []
    for query in queries[::4]:
        if query["tool"] not in seen:
            seen.add(query["tool"])
            picked.append(query)
    files = {"bfcl_openai.json": converted, "bfcl_unconverted.json": raw,
             "github_mcp_server.json": github_mcp(Path(github)), "queries.json": picked}
    for name, items in files.items():
        lines = ",\n".join(json.dumps(item, ensure_ascii=False) for item in items)
        (HERE / name).write_text(f"[\n{lines}\n]\n")
        print(f"{name}: {len(items)}")


if __name__ == "__main__":
    main(*sys.argv[1:3])
