"""Readers for the labelled sets in ``../shared/data``, one function per set.

Each yields :class:`~guard.training.examples.Example` records with the ``source`` and a
deterministic ``split`` chosen by hashing a group key, so translations of one prompt (same
RTP-LX index, same MultiJail id) and questions about one paragraph always land in the same
split. Nothing here copies data into the repository.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

from guard.training.examples import Example, csv_rows, split_of


def advbench(root: Path) -> Iterator[Example]:
    """AdvBench harmful behaviours (English, all unsafe)."""
    for row in csv_rows(root / "safety/advbench/advbench_behaviors.csv"):
        yield Example(
            row["Behavior"],
            "unsafe",
            "en",
            source="advbench",
            split=split_of("adv" + row["BehaviorID"]),
        )


_HARMBENCH = {
    "chemical_biological": ("S9",),
    "illegal": ("S2",),
    "cybercrime_intrusion": ("S2",),
    "misinformation_disinformation": ("S2",),
    "harassment_bullying": ("S10",),
    "harmful": ("S1",),
}


def harmbench(root: Path) -> Iterator[Example]:
    """HarmBench behaviours: val -> train/dev, test -> test; copyright rows are left out."""
    for name, base in (("val", "train"), ("test", "test")):
        for row in csv_rows(root / f"safety/harmbench/harmbench_behaviors_text_{name}.csv"):
            if row["SemanticCategory"] == "copyright":
                continue
            split = base if base == "test" else split_of("hb" + row["BehaviorID"], 0.3, 0.0)
            yield Example(
                row["Behavior"],
                "unsafe",
                "en",
                categories=_HARMBENCH.get(row["SemanticCategory"], ()),
                source="harmbench",
                split=split,
            )


def maliciousinstruct(root: Path) -> Iterator[Example]:
    """MaliciousInstruct questions (English, all unsafe intent)."""
    lines = (root / "safety/maliciousinstruct/malicious_instruct.txt").read_text().splitlines()
    for i, line in enumerate(x.strip() for x in lines):
        if line:
            yield Example(
                line, "unsafe", "en", source="maliciousinstruct", split=split_of(f"mi{i}")
            )


_STRONGREJECT = {
    "Non-violent crimes": ("S2",),
    "Violence": ("S1",),
    "Disinformation and deception": ("S2",),
    "Hate, harassment and discrimination": ("S10",),
    "Illegal goods and services": ("S2",),
    "Sexual content": ("S12",),
}


def strongreject(root: Path) -> Iterator[Example]:
    """StrongREJECT forbidden prompts (English)."""
    for i, row in enumerate(csv_rows(root / "safety/strongreject/strongreject_dataset.csv")):
        cats = _STRONGREJECT.get(row["category"], ())
        if not cats and row["category"].startswith("Hate"):
            cats = ("S10",)
        yield Example(
            row["forbidden_prompt"],
            "unsafe",
            "en",
            categories=cats,
            source="strongreject",
            split=split_of(f"sr{i}"),
        )


_SST = {
    "Suicide, Self-Harm, and Eating Disorders": ("S11",),
    "Physical harm and Violence": ("S1",),
    "Illegal and Highly Regulated items": ("S2",),
    "Scams and fraud": ("S2",),
    "Child safety": ("S4",),
}


def simplesafetytests(root: Path) -> Iterator[Example]:
    """SimpleSafetyTests: kept entirely for testing."""
    for row in csv_rows(root / "safety/simplesafetytests/simplesafetytests_test_cases.csv"):
        yield Example(
            row["prompts_final"],
            "unsafe",
            "en",
            categories=_SST.get(row["harm_area"], ()),
            source="simplesafetytests",
            split="test",
        )


_MULTIJAIL = (
    ("sexual", "S12"),
    ("child", "S4"),
    ("violence", "S1"),
    ("weapons", "S9"),
    ("hate", "S10"),
    ("discrimination", "S10"),
    ("self-harm", "S11"),
    ("theft", "S2"),
    ("fraud", "S2"),
    ("drugs", "S2"),
    ("privacy", "S7"),
    ("non-violent", "S2"),
    ("terrorism", "S1"),
    ("bullying", "S10"),
)


def multijail(root: Path) -> Iterator[Example]:
    """MultiJail: the same unsafe prompt in English and Italian, split by id."""
    for row in csv_rows(root / "safety/multijail/MultiJail.csv"):
        tags = row["tags"].lower()
        cats = tuple(dict.fromkeys(code for word, code in _MULTIJAIL if word in tags))
        split = split_of("mj" + row["id"], 0.2, 0.3)
        for lang in ("en", "it"):
            yield Example(
                row[lang], "unsafe", lang, categories=cats, source="multijail", split=split
            )


_OPENAI = {
    "S": "S12",
    "S3": "S4",
    "SH": "S11",
    "H": "S10",
    "H2": "S10",
    "V": "S1",
    "V2": "S1",
    "HR": "S10",
}


def openai_moderation(root: Path) -> Iterator[Example]:
    """OpenAI moderation samples: unsafe when any category is 1, safe when all known are 0."""
    path = root / "safety/openai-moderation/samples-1680.jsonl"
    for i, line in enumerate(path.read_text().splitlines()):
        row = json.loads(line)
        flags = {k: row[k] for k in _OPENAI if k in row}
        if not flags:
            continue
        cats = tuple(dict.fromkeys(_OPENAI[k] for k, v in flags.items() if v == 1))
        label = "unsafe" if cats else "safe"
        yield Example(
            row["prompt"],
            label,
            "en",
            categories=cats,
            source="openai-moderation",
            split=split_of(f"oai{i}"),
        )


_RTP = (
    ("SelfHarm", "S11"),
    ("SexualContent", "S12"),
    ("Violence", "S1"),
    ("IdentityAttack", "S10"),
    ("Insult", "S10"),
)


def _rtp_categories(ann: dict) -> tuple[str, ...]:
    cats = tuple(dict.fromkeys(code for key, code in _RTP if ann.get(key, 1) >= 3))
    return cats or ("S10",)


def rtp_lx(root: Path) -> Iterator[Example]:
    """RTP-LX prompts (user role) and completions (agent role), split by index."""
    for lang in ("EN", "DE", "IT", "SV"):
        with gzip.open(
            root / f"safety/rtp-lx/rtp_lx_{lang}.jsonl.gz", "rt", encoding="utf-8"
        ) as fh:
            for line in fh:
                row = json.loads(line)
                split = split_of(f"rtp{row['Index']}")
                ann = row["PromptAnnotations"]
                tox = ann.get("Toxicity", 1)
                code = lang.lower()
                if tox >= 3 or tox <= 1.5:
                    label = "unsafe" if tox >= 3 else "safe"
                    yield Example(
                        row["Prompt"],
                        label,
                        code,
                        categories=_rtp_categories(ann) if label == "unsafe" else (),
                        source="rtp-lx",
                        split=split,
                    )
                comp = row.get("CompletionAnnotations") or {}
                if row.get("Completion") and comp.get("Toxicity", 1) >= 3:
                    yield Example(
                        row["Completion"],
                        "unsafe",
                        code,
                        role="agent",
                        categories=_rtp_categories(comp),
                        source="rtp-lx-completion",
                        split=split,
                    )
                if row.get("BenignCompletion"):
                    yield Example(
                        row["Prompt"] + row["BenignCompletion"],
                        "safe",
                        code,
                        role="agent",
                        source="rtp-lx-completion",
                        split=split,
                    )


def germeval(root: Path) -> Iterator[Example]:
    """GermEval 2018: ABUSE and INSULT as unsafe (S10), OTHER safe, PROFANITY left out."""
    path = root / "safety/germeval2018/germeval2018.test.txt"
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
        parts = line.split("\t")
        if len(parts) < 3 or parts[2] == "PROFANITY":
            continue
        text = parts[0].replace("|LBR|", "\n")
        label = "safe" if parts[1] == "OTHER" else "unsafe"
        yield Example(
            text,
            label,
            "de",
            categories=("S10",) if label == "unsafe" else (),
            source="germeval2018",
            split=split_of(f"ge{i}"),
        )


def alpaca_harmless(root: Path) -> Iterator[Example]:
    """Alpaca instructions assumed benign (English)."""
    rows = json.loads((root / "safety/alpaca-harmless/harmless_test.json").read_text())
    for i, row in enumerate(rows):
        yield Example(
            row["instruction"], "safe", "en", source="alpaca-harmless", split=split_of(f"al{i}")
        )


def _squad_questions(data: dict, lang: str, source: str) -> Iterator[Example]:
    for article in data["data"]:
        for para in article["paragraphs"]:
            split = split_of(source + para["context"][:200], 0.1, 0.5)
            for qa in para["qas"]:
                yield Example(qa["question"], "safe", lang, source=source, split=split)


def qa_questions(root: Path) -> Iterator[Example]:
    """Student-like questions from NorQuAD, SQuAD-it and XQuAD, split by paragraph."""
    yield from _squad_questions(
        json.loads((root / "qa/norquad/validation_dataset_flattened.json").read_text()),
        "nb",
        "qa-norquad",
    )
    with gzip.open(root / "qa/squad-it/SQuAD_it-test.json.gz", "rt", encoding="utf-8") as fh:
        yield from _squad_questions(json.load(fh), "it", "qa-squad-it")
    for lang in ("en", "de"):
        data = json.loads((root / f"qa/xquad/xquad.{lang}.json").read_text())
        yield from _squad_questions(data, lang, f"qa-xquad-{lang}")


def swequad_questions(root: Path) -> Iterator[Example]:
    """Swedish reading-comprehension questions (SweQUAD-MC training split), by context."""
    data = json.loads((root / "qa/swequad-mc/training.json").read_text(encoding="utf-8"))
    for row in data["data"]:
        split = split_of("swequad" + row["context"][:200], 0.1, 0.5)
        yield Example(row["question"], "safe", "sv", source="qa-swequad", split=split)


def gahd(root: Path) -> Iterator[Example]:
    """GAHD German adversarial hate speech: its own splits; contrastive twins share a pair."""
    for row in csv_rows(root / "safety/gahd/gahd.csv"):
        label = "unsafe" if row["label"] == "1" else "safe"
        twin = row.get("contrastive_gahd_id") or ""
        pair = "gahd-" + "-".join(sorted((row["gahd_id"], twin))) if twin else ""
        yield Example(
            row["text"],
            label,
            "de",
            categories=("S10",) if label == "unsafe" else (),
            source="gahd",
            split=row["split"],
            phenomenon="hate-adversarial",
            pair_id=pair,
            origin="gahd",
        )


def _hatecheck(rows: Iterator[dict], lang: str, source: str, prefix: str) -> Iterator[Example]:
    """HateCheck-style functional tests, split by template so near-duplicates stay together."""
    for row in rows:
        if row.get("disagreement_in_case") == "True":
            continue
        label = "unsafe" if row["label_gold"] == "hateful" else "safe"
        yield Example(
            row["test_case"].strip(),
            label,
            lang,
            categories=("S10",) if label == "unsafe" else (),
            source=source,
            split=split_of(f"{prefix}{row['templ_id']}"),
            phenomenon=row["functionality"],
            origin=source,
        )


def hatecheck(root: Path) -> Iterator[Example]:
    """HateCheck (English) and Multilingual HateCheck (German, Italian)."""
    yield from _hatecheck(
        csv_rows(root / "safety/hatecheck-en/test_suite_cases.csv"), "en", "hatecheck-en", "hce"
    )
    for lang, name in (("de", "german"), ("it", "italian")):
        path = root / f"safety/multilingual-hatecheck/hatecheck_cases_final_{name}.csv"
        yield from _hatecheck(csv_rows(path), lang, f"hatecheck-{lang}", f"mhc{lang}")


def toxigen(root: Path) -> Iterator[Example]:
    """ToxiGen seed statements: implicit hate vs neutral statements about the same groups."""
    path = root / "safety/toxigen/statements.jsonl"
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        label = "unsafe" if row["prompt_file_kind"] == "hate" else "safe"
        yield Example(
            row["text"],
            label,
            "en",
            categories=("S10",) if label == "unsafe" else (),
            source="toxigen",
            split=split_of("tg" + row["text"]),
            phenomenon="implicit-hate",
            origin="toxigen",
        )


def dkhate(root: Path) -> Iterator[Example]:
    """DKHate (Danish offensive comments): its test file is test; train is split train/dev."""
    base = root / "safety/dkhate/oe20da_data"
    for name in ("training", "test"):
        with (base / f"offenseval-da-{name}-v1.tsv").open(encoding="utf-8") as fh:
            for row in csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE):
                if row.get("subtask_a") not in ("OFF", "NOT") or not row.get("tweet"):
                    continue
                label = "unsafe" if row["subtask_a"] == "OFF" else "safe"
                split = "test" if name == "test" else split_of("dk" + row["id"], 0.2, 0.0)
                yield Example(
                    row["tweet"],
                    label,
                    "da",
                    categories=("S10",) if label == "unsafe" else (),
                    source="dkhate",
                    split=split,
                    phenomenon="offensive",
                    origin="dkhate",
                )


_COCONOT_UNSAFE = {"privacy violations", "dangerous or sensitive topics", "wildchats", "offensive"}


def coconot(root: Path) -> Iterator[Example]:
    """CoCoNot: benign look-alikes (pref, contrast) and the requests that should be refused.

    ``coconot_contrast_eval`` is kept whole as a test source. In ``coconot_eval`` only the
    hazard-like "safety concerns" are unsafe; copyright and misinformation are left out
    (not hazards for a prompt classifier), the other categories are safe requests.
    """
    base = root / "safety/coconot"
    for line in (base / "coconot_pref.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        yield Example(
            row["prompt"],
            "safe",
            "en",
            source="coconot-pref",
            split=split_of("cc" + row["id"], 0.2, 0.0),
            phenomenon=row["subcategory"],
            origin="coconot",
        )
    for line in (base / "coconot_eval.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        sub = row["subcategory"].lower()
        if row["category"] == "Requests with safety concerns":
            if not any(key in sub for key in _COCONOT_UNSAFE):
                continue
            label = "unsafe"
        else:
            label = "safe"
        yield Example(
            row["prompt"],
            label,
            "en",
            source="coconot-eval",
            split=split_of("ce" + row["id"], 0.2, 0.0),
            phenomenon=sub,
            origin="coconot",
        )
    for line in (base / "coconot_contrast_eval.jsonl").read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        yield Example(
            row["prompt"],
            "safe",
            "en",
            source="coconot-contrast",
            split="test",
            phenomenon=row["subcategory"],
            origin="coconot",
        )


def safetext(root: Path) -> Iterator[Example]:
    """SafeText physical-safety advice (answer side): unsafe vs safe advice per scenario."""
    data = json.loads((root / "safety/safetext/SafeText.json").read_text(encoding="utf-8"))
    for scenario, advice in data.items():
        split = split_of("st" + scenario)
        pair = "st-" + hashlib.sha1(scenario.encode()).hexdigest()[:10]
        for label in ("safe", "unsafe"):
            for text in advice.get(label, []):
                yield Example(
                    f"{scenario} {text}",
                    label,
                    "en",
                    role="agent",
                    categories=("S6",) if label == "unsafe" else (),
                    source="safetext",
                    split=split,
                    phenomenon="physical-safety",
                    pair_id=pair,
                    origin="safetext",
                )
