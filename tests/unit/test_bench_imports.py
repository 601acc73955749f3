"""Every benchmark imports as a module of the ``bench`` package, cheaply, without running."""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import bench

ROOT = Path(__file__).resolve().parents[2]
NAMES = sorted(info.name for info in pkgutil.iter_modules(bench.__path__))
HEAVY = ("torch", "transformers", "llama_cpp", "sentence_transformers", "chromadb")


def test_bench_is_a_package_with_every_script() -> None:
    """``bench/`` is a regular package and lists each script in the folder."""
    assert bench.__file__ is not None
    scripts = sorted(p.stem for p in (ROOT / "bench").glob("*.py") if p.stem != "__init__")
    assert scripts == NAMES
    assert "answer_overhead" in NAMES


@pytest.mark.parametrize("name", NAMES)
def test_bench_module_imports(name: str) -> None:
    """``import bench.<name>`` works from the repository root and exposes ``main``."""
    module = importlib.import_module(f"bench.{name}")
    assert callable(module.main)


def test_bench_imports_leave_heavy_libraries_to_main() -> None:
    """Importing every bench module in a fresh interpreter loads no model library."""
    code = (
        "import importlib, sys\n"
        f"for name in {NAMES!r}:\n"
        "    importlib.import_module('bench.' + name)\n"
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.strip() == ""
