"""Folder-level import arrows of finlake's product packages, and which run uphill against the
layers of the import contract in pyproject.toml ([tool.importlinter], top layer first).

    .venv/bin/python -m bench.import_graph [ROOT]

Counts each (importing folder, imported folder) pair once, with the number of import
statements behind it; an arrow is uphill when the imported folder's layer is above the
importer's. Type-checking-only imports are left out, as the contract leaves them out.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from collections import Counter
from pathlib import Path


def _ranks(root: Path) -> dict[str, int]:
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = next(c for c in config["contracts"] if c["type"] == "layers")["layers"]
    return {pkg.strip(): len(layers) - i for i, layer in enumerate(layers)
            for pkg in layer.split("|")}


def _imports(tree: ast.AST) -> list[str]:
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
            and "TYPE_CHECKING" in ast.unparse(node.test) for n in ast.walk(node)}
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def main(argv: list[str] | None = None) -> int:
    root = Path((argv or sys.argv[1:] or ["."])[0]).resolve()
    rank = _ranks(root)
    arrows: Counter[tuple[str, str]] = Counter()
    for pkg in rank:
        for f in sorted((root / pkg).rglob("*.py")):
            for module in _imports(ast.parse(f.read_text())):
                top = module.split(".")[0]
                if top in rank and top != pkg:
                    arrows[(pkg, top)] += 1
    uphill = sorted(a for a in arrows if rank[a[1]] > rank[a[0]])
    print(f"{len(arrows)} folder-level import arrows, {len(uphill)} uphill")
    for a, b in sorted(arrows):
        print(f"  {a} -> {b}: {arrows[(a, b)]} import(s){'  UPHILL' if (a, b) in uphill else ''}")
    return 1 if uphill else 0


if __name__ == "__main__":
    sys.exit(main())
