"""Report functions over 80 lines and modules over 600 lines (issue 14's size limits).

Usage: python scripts/check_size.py [--max-function N] [--max-module N] [--allow ENTRY ...]
[paths...] (default paths: app guard ingest core). Exits 1 when anything is over a limit and not
allowed.

``--allow`` names one known offender that another piece of work is still splitting:
``path/to/module.py`` (the module's length), ``path/to/module.py:Class.function`` (one
function) or ``path/to/package/`` (everything under it). scripts/test.sh keeps the list,
one commented entry per offender; an entry that no longer matches anything is reported so it
can be removed.
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
                out.append(
                    (f"{prefix}{child.name}", start, (child.end_lineno or start) - start + 1)
                )
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")

    visit(tree, "")
    return out


def offenders(paths: list[str], *, max_function: int, max_module: int) -> list[tuple[str, str]]:
    """(allow-list key, report line) of every function or module over its limit.

    The key is ``path`` for a module and ``path:qualified.name`` for a function.
    """
    found: list[tuple[str, str]] = []
    for root in paths:
        files = [Path(root)] if root.endswith(".py") else sorted(Path(root).rglob("*.py"))
        for path in files:
            if SKIP_PARTS & set(path.parts):
                continue
            length = len(path.read_text(encoding="utf-8").splitlines())
            if length > max_module:
                found.append(
                    (path.as_posix(), f"{path}: module has {length} lines (limit {max_module})")
                )
            for name, start, size in function_sizes(path):
                if size > max_function:
                    found.append(
                        (
                            f"{path.as_posix()}:{name}",
                            f"{path}:{start}: {name} has {size} lines (limit {max_function})",
                        )
                    )
    return found


def allowed_by(key: str, allow: list[str]) -> str | None:
    """The allow-list entry that covers ``key`` (a module, a function, or a folder ending in
    ``/``), if any."""
    for entry in allow:
        if key == entry or (entry.endswith("/") and key.startswith(entry)):
            return entry
    return None


def main(argv: list[str] | None = None) -> int:
    """Print the offenders; exit 1 when there are any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=list(DEFAULT_PATHS))
    parser.add_argument("--max-function", type=int, default=80)
    parser.add_argument("--max-module", type=int, default=600)
    parser.add_argument(
        "--allow",
        action="append",
        default=[],
        metavar="ENTRY",
        help="a known offender: path.py, path.py:function or folder/ (repeatable)",
    )
    args = parser.parse_args(argv)
    found = offenders(args.paths, max_function=args.max_function, max_module=args.max_module)
    used = {entry for key, _ in found if (entry := allowed_by(key, args.allow))}
    new = [line for key, line in found if allowed_by(key, args.allow) is None]
    for key, line in found:
        if allowed_by(key, args.allow) is not None:
            print(f"allowed: {line}")
    for entry in args.allow:
        if entry not in used:
            print(
                f"note: --allow {entry} matches nothing over a limit any more; remove it from the "
                "list"
            )
    print("\n".join(new) if new else "all other functions and modules within the limits")
    return 1 if new else 0


if __name__ == "__main__":
    sys.exit(main())
