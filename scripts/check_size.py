"""Report functions over 80 lines and modules over 600 lines (issue 14's size limits).

Usage: python scripts/check_size.py [--max-function N] [--max-module N] [paths...]
(default paths: app guard ingest core). Exits 1 when anything is over a limit.
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path

DEFAULT_PATHS = ("app", "guard", "ingest", "core")
SKIP_PARTS = {"__pycache__", "migrations"}


def function_sizes(path: Path) -> list[tuple[str, int, int]]:
    """(qualified name, first line, length in lines) of every function in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out: list[tuple[str, int, int]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                start = min([child.lineno, *(d.lineno for d in child.decorator_list)])
                out.append((f"{prefix}{child.name}", start, (child.end_lineno or start) - start + 1))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(tree, "")
    return out


def offenders(paths: list[str], *, max_function: int, max_module: int) -> list[str]:
    """One line per function or module over its limit."""
    lines: list[str] = []
    for root in paths:
        files = [Path(root)] if root.endswith(".py") else sorted(Path(root).rglob("*.py"))
        for path in files:
            if SKIP_PARTS & set(path.parts):
                continue
            length = len(path.read_text(encoding="utf-8").splitlines())
            if length > max_module:
                lines.append(f"{path}: module has {length} lines (limit {max_module})")
            for name, start, size in function_sizes(path):
                if size > max_function:
                    lines.append(f"{path}:{start}: {name} has {size} lines (limit {max_function})")
    return lines


def main(argv: list[str] | None = None) -> int:
    """Print the offenders; exit 1 when there are any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=list(DEFAULT_PATHS))
    parser.add_argument("--max-function", type=int, default=80)
    parser.add_argument("--max-module", type=int, default=600)
    args = parser.parse_args(argv)
    found = offenders(args.paths, max_function=args.max_function, max_module=args.max_module)
    print("\n".join(found) if found else "all functions and modules within the limits")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
