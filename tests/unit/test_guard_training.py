"""The guard's training data files and the v2 recipe's pieces (no model needed)."""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict

import pytest

from guard.taxonomy import CATEGORIES
from guard.training.datasets import PACKAGE_DATA, Example, project_rows
from guard.training.train import (
    TrainConfig,
    auroc,
    calibrate,
    groups_of,
    load_plan,
    partition,
    role_of,
    targets,
    threshold_at_fpr,
)

FIELDS = {"text", "label", "language", "categories", "phenomenon", "pair_id", "origin"}
LANGS = ("en", "sv", "nb", "de", "it")


def _rows(folder: str) -> list[dict]:
    rows = []
    for path in sorted((PACKAGE_DATA / folder).glob("*.jsonl")):
        rows.extend(json.loads(line) for line in path.read_text(encoding="utf-8").splitlines())
    return rows


def test_project_data_files_have_the_card_fields():
    """Every project row names its text, label, language, categories, phenomenon, pair, origin."""
    rows = _rows("written") + _rows("translated") + _rows("general") + _rows("lone")
    rows += [json.loads(line) for line in (PACKAGE_DATA / "templated.jsonl").open()]
    assert rows
    for row in rows:
        assert row.keys() >= FIELDS, row
        assert row["label"] in ("safe", "unsafe")
        assert row["language"] in LANGS
        assert row["text"].strip()
        assert all(code in CATEGORIES for code in row["categories"])
        assert not (row["label"] == "safe" and row["categories"]), row


def test_written_pairs_at_scale_and_minimal():
    """At least 3,000 written rows per language, 15,000 in all; each pair has both intents."""
    rows = _rows("written")
    per_lang = Counter(r["language"] for r in rows)
    assert all(per_lang[lang] >= 3000 for lang in LANGS), per_lang
    assert sum(per_lang.values()) >= 15000
    pairs: dict[str, Counter] = defaultdict(Counter)
    for r in rows:
        assert r["origin"] == "written" and r["pair_id"].startswith(r["language"] + "-")
        pairs[r["pair_id"]][r["label"]] += 1
    assert all(c["safe"] >= 1 and c["unsafe"] >= 1 for c in pairs.values())
    labels: dict[str, set] = defaultdict(set)
    for r in rows:
        labels[(r["language"], r["text"].strip().lower())].add(r["label"])
    assert not [t for t, ls in labels.items() if len(ls) > 1]  # no text with both labels
    phenomena = {r["phenomenon"] for r in rows}
    for needed in (
        "homonym",
        "bullying",
        "self-harm-help",
        "drugs",
        "sex-ed",
        "weapons",
        "jb-roleplay",
        "jb-codeswitch",
        "injection",
        "material-injection",
    ):
        assert needed in phenomena


def test_lone_requests_are_harmful_held_out_and_in_every_language():
    """The lone rows (no twins) are all harmful, carry a hazard category, and only test."""
    rows = _rows("lone")
    assert {r["language"] for r in rows} == set(LANGS)
    assert all(r["label"] == "unsafe" and r["categories"] and not r["pair_id"] for r in rows)
    assert load_plan()["written-lone"]["role"] == "test"


def test_translations_are_marked_and_cover_four_languages():
    """Translated rows say which source they come from, in sv, nb, de and it."""
    rows = _rows("translated")
    assert {r["language"] for r in rows} == {"sv", "nb", "de", "it"}
    assert all(r["origin"].startswith("translated:") and r["source_id"] for r in rows)


def test_the_plan_names_every_source():
    """Every source has a role; held-out sources are whole; roles are the three known ones."""
    plan = load_plan()
    assert {v["role"] for v in plan.values()} <= {"train", "dev", "test"}
    for src in ("strongreject", "simplesafetytests", "coconot-contrast"):
        assert plan[src]["role"] == "test"
    rows = list(project_rows())
    # the project's rows train and choose, except the pairs written after the shipped
    # weights were trained, which are a held-out test source of their own
    assert {
        role_of(ex, plan) for ex in rows if ex.source not in ("written-general", "written-lone")
    } <= {
        "train",
        "dev",
    }
    assert {role_of(ex, plan) for ex in rows if ex.source == "written-general"} == {"test"}


def _ex(text, label, source="written", split="train", **kw) -> Example:
    return Example(text, label, kw.pop("language", "en"), source=source, split=split, **kw)


def test_partition_holds_out_whole_sources_and_follows_translations():
    """Test sources never train; a translation of a dev source is dev, whatever its split."""
    plan = load_plan()
    rows = [
        _ex("a", "unsafe", "strongreject", "train"),
        _ex("b", "unsafe", "translated", "train", origin="translated:maliciousinstruct"),
        _ex("c", "safe", "written", "dev"),
        _ex("d", "safe", "written", "train"),
        _ex("e", "unsafe", "gahd", "test"),
    ]
    train, dev, test = partition(rows, plan)
    assert [e.text for e in train] == ["d"]
    assert [e.text for e in dev] == ["b", "c"]
    assert sorted(e.text for e in test) == ["a", "e"]


def test_train_labels_keep_one_side_of_a_pair_source_in_training_only():
    """The v6 plan trains written-general's harmful rows alone; dev and test stay whole."""
    plan = load_plan("sources-v6-lone.json")
    assert load_plan()["written-general"]["role"] == "test"  # the shipped recipe is unchanged
    rows = [
        _ex("harm", "unsafe", "written-general", "train", pair_id="g1"),
        _ex("twin", "safe", "written-general", "train", pair_id="g1"),
        _ex("dev-harm", "unsafe", "written-general", "dev", pair_id="g2"),
        _ex("dev-twin", "safe", "written-general", "dev", pair_id="g2"),
        _ex("test-twin", "safe", "written-general", "test", pair_id="g3"),
        _ex("other-twin", "safe", "written", "train", pair_id="w1"),
    ]
    train, dev, test = partition(rows, plan)
    assert [e.text for e in train] == ["harm", "other-twin"]
    assert [e.text for e in dev] == ["dev-harm", "dev-twin"]
    assert [e.text for e in test] == ["test-twin"]


def test_pairs_are_drawn_together_and_sources_weigh_by_sqrt_size():
    """A minimal pair is one sampling unit; a source's share is weight x sqrt(rows)."""
    plan = {"written": {"weight": 2.0}, "alpaca-harmless": {"weight": 1.0}}
    rows = [_ex(f"s{i}", "safe", "alpaca-harmless") for i in range(16)]
    rows += [_ex("u", "unsafe", pair_id="p1"), _ex("v", "safe", pair_id="p1")]
    rows += [_ex("x", "unsafe", pair_id="p2"), _ex("y", "safe", pair_id="p2")]
    units, weights = groups_of(rows, plan)
    assert sorted(len(u) for u in units) == [1] * 16 + [2, 2]
    share = defaultdict(float)
    for unit, w in zip(units, weights, strict=True):
        share[rows[unit[0]].source] += w
    assert share["written"] / share["alpaca-harmless"] == pytest.approx(
        2.0 * math.sqrt(4) / math.sqrt(16)
    )


def test_targets_route_injection_and_jailbreak_rows():
    """Injection rows teach only the injection logit; jailbreak rows only the unsafe one."""
    inj = targets(_ex("ignore", "unsafe", phenomenon="injection"))
    assert inj[1] == 0.0 and inj[4] == 1.0 and inj[5] == 1.0
    jb = targets(_ex("pretend", "unsafe", phenomenon="jb-roleplay", categories=("S9",)))
    assert jb[0] == 1.0 and jb[3] == 1.0 and jb[5] == 0.0
    plain = targets(_ex("hi", "safe", phenomenon="homonym"))
    assert plain[:2] == (0.0, 1.0) and plain[4:] == (0.0, 1.0)


def test_auroc_and_threshold_arithmetic():
    """AUROC counts ties half; the threshold keeps the FPR at or below the target."""
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert auroc([0.5, 0.5], [0, 1]) == 0.5
    assert auroc([0.2], [1]) is None
    neg = [i / 100 for i in range(100)]
    t = threshold_at_fpr(neg, [0] * 100, 0.05)
    assert sum(s >= t for s in neg) / 100 <= 0.05


def test_calibration_gives_each_language_its_own_threshold():
    """Scores that shift by language get thresholds that shift with them."""
    dev, probs = [], []
    for lang, shift in (("en", 0.0), ("sv", 0.3)):
        for i in range(100):
            dev.append(_ex(f"{lang} safe {i}", "safe", language=lang))
            probs.append((min(0.99, 0.005 * i + shift), 0.0))
            dev.append(_ex(f"{lang} harm {i}", "unsafe", language=lang))
            probs.append((min(0.999, 0.6 + 0.003 * i + shift / 2), 0.0))
    out = calibrate(dev, probs, TrainConfig())
    assert out["sv"]["threshold"] > out["en"]["threshold"]
    for lang in ("en", "sv"):
        assert out[lang]["dev_fpr"] <= 0.03
        assert out[lang]["care_threshold"] <= out[lang]["threshold"]
    assert "default" in out and "injection" in out
