"""Kateder's shared base: database models, language utilities, the e5 encoder, model files.

Everything above (``guard``, ``ingest``, ``app``, ``migrations``) may import ``core``;
``core`` imports none of them. See docs/architecture.md and ``[tool.importlinter]``.
"""
