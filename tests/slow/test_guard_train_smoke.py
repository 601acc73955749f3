"""``kateder guard train --smoke``: the v2 recipe end to end on a few rows (CI's training)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from guard import Message
from guard.cli import guard_group
from guard.embedded import OUTPUTS, EmbeddedGuard, EmbeddedModel

pytestmark = pytest.mark.slow


def test_smoke_training_writes_loadable_calibrated_weights(tmp_path):
    """A tiny run writes weights the guard loads, with per-language thresholds and a curve."""
    result = CliRunner().invoke(
        guard_group, ["train", "--smoke", "--depth", "2", "--out", str(tmp_path)]
    )
    assert result.exit_code == 0, result.output
    meta = json.loads((tmp_path / "guard-e5.json").read_text())
    assert meta["depth"] == 2 and meta["outputs"] == list(OUTPUTS)
    assert meta["int8"] is meta["config"]["int8"] is False  # fp32 by default (docs/guard.md)
    assert meta["steps"] == meta["planned_steps"] > 0
    assert meta["learning_curve"] and meta["learning_curve"][-1]["step"] == meta["steps"]
    assert {"en", "sv"} <= set(meta["languages"])
    assert meta["config"]["seed"] == 13 and meta["train_counts"]
    guard = EmbeddedGuard(weights_dir=tmp_path, model=EmbeddedModel(tmp_path))
    verdict = guard.classify([Message("user", "Vad är fotosyntes?")], role="user")
    assert verdict.details["language"] == "sv"
    assert verdict.details["threshold"] == meta["languages"]["sv"]["threshold"]
    assert 0.0 <= verdict.details["injection_score"] <= 1.0
