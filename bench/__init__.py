"""Benchmarks: scripts that print figures, run from the repository root as modules.

``python -m bench.answer_overhead --help``; each module keeps its heavy imports inside
``main()`` so that importing it (``tests/unit/test_bench_imports.py``) is cheap.
"""
