"""School policy on top of a guard: graded actions, crisis help, redaction, fail-closed.

A :class:`CoursePolicy` is stored as JSON on the course (``to_dict``/``from_dict``); the
teacher form is built from ``CoursePolicy.to_dict()`` and :data:`POLICY_SCHEMA`.

Decision for one text (:class:`Moderator`):

1. personal identifiers are redacted first (the redacted text is what is classified,
   logged and sent on), and the student is told why;
2. instructions aimed at the model (prompt injection) are blocked;
3. teacher-defined extra categories (keywords, or similarity to teacher examples when an
   embedder is available) apply their action;
4. the guard classifies; any exception or error verdict blocks (fail closed);
5. a score at or above ``threshold`` (or an unsafe verdict when ``threshold`` is null) takes
   the action configured for its hazard category; a score in the ``care_threshold`` band is
   answered with care; below it the text is allowed.

Suicide & Self-Harm (S11) above the threshold is never a plain refusal: the student gets a
caring message with the helpline for their country, and the teacher is alerted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cache, partial
from pathlib import Path
from typing import Any, Literal, get_args

from core.language import LANGUAGES
from guard import injection
from guard.normalize import normalize
from guard.pii import redact
from guard.taxonomy import CATEGORIES, SELF_HARM
from guard.types import Action, Guard, Message, Role, Verdict

AGE_BANDS = ("6-9", "10-12", "13-15", "16-19")
# what a teacher sets per category; an "alert" blocks like "block" and alerts the teacher too
CategoryAction = Literal["allow", "care", "block", "alert"]
CATEGORY_ACTIONS: tuple[CategoryAction, ...] = get_args(CategoryAction)
LANGUAGE_ALIASES = {
    "no": "nb",
    "nn": "nb",
    "nob": "nb",
    "swe": "sv",
    "ger": "de",
    "deu": "de",
    "ita": "it",
    "eng": "en",
}

# Defaults for a school: crimes against people and weapons alert the teacher; topics that a
# teacher's own material can answer carefully (advice, elections, IP) are answered with care.
DEFAULT_ACTIONS: dict[str, CategoryAction] = {
    "S1": "alert",
    "S2": "block",
    "S3": "alert",
    "S4": "alert",
    "S5": "block",
    "S6": "care",
    "S7": "block",
    "S8": "care",
    "S9": "alert",
    "S10": "block",
    "S11": "alert",
    "S12": "block",
    "S13": "care",
    "S14": "block",
}
_ORDER = {"allow": 0, "care": 1, "block": 2, "alert": 3}


def _moderation_action(action: CategoryAction) -> Action:
    """What a category action does to the text: ``alert`` blocks it (the alert goes on the side)."""
    return "block" if action == "alert" else action


def language_code(language: str | None) -> str:
    """Normalise a language tag (``"no"`` and ``"nb-NO"`` become ``"nb"``)."""
    code = (language or "en").lower().replace("_", "-").split("-")[0]
    code = LANGUAGE_ALIASES.get(code, code)
    return code if code in LANGUAGES else "en"


@dataclass(frozen=True)
class ExtraCategory:
    """A teacher-defined category, e.g. "asking for a whole essay to hand in"."""

    key: str
    label: str
    action: CategoryAction = "block"
    keywords: tuple[str, ...] = ()  # case-insensitive regular expressions
    examples: tuple[str, ...] = ()  # example requests (matched by embedding similarity)
    similarity: float = 0.88

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExtraCategory:
        """Build from JSON, ignoring unknown keys."""
        return cls(
            key=str(data["key"]),
            label=str(data.get("label", data["key"])),
            action=data.get("action", "block")
            if data.get("action") in CATEGORY_ACTIONS
            else "block",
            keywords=tuple(data.get("keywords", ())),
            examples=tuple(data.get("examples", ())),
            similarity=float(data.get("similarity", 0.88)),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "key": self.key,
            "label": self.label,
            "action": self.action,
            "keywords": list(self.keywords),
            "examples": list(self.examples),
            "similarity": self.similarity,
        }


@dataclass(frozen=True)
class CoursePolicy:
    """A course's moderation settings, stored as JSON on the course row.

    Attributes:
        age_band: one of :data:`AGE_BANDS`; under 13 sexual content (S12) alerts the teacher.
        threshold: unsafe-score threshold for the category action; ``None`` uses the
            backend's own decision (the embedded guard's dev-calibrated threshold).
        care_threshold: scores from here up to ``threshold`` are answered with care;
            ``None`` uses the backend's suggestion when it has one.
        actions: S-code -> ``allow``/``care``/``block``/``alert`` overrides of
            :data:`DEFAULT_ACTIONS` (S11 always gets the crisis message).
        country: ISO country for the helpline (``SE``, ``NO``, ``DE``, ``IT``, ``GB``);
            ``None`` picks it from the student's language.
        extra_categories: teacher-defined categories.
        block_injection: block questions that try to instruct the model.
    """

    age_band: str = "13-15"
    threshold: float | None = None
    care_threshold: float | None = None
    actions: Mapping[str, CategoryAction] = field(default_factory=dict)
    country: str | None = None
    extra_categories: tuple[ExtraCategory, ...] = ()
    block_injection: bool = True

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> CoursePolicy:
        """Build a policy from stored JSON, ignoring unknown keys and invalid values."""
        data = dict(data or {})

        def prob(value: Any) -> float | None:
            try:
                return None if value is None else min(1.0, max(0.0, float(value)))
            except (TypeError, ValueError):
                return None

        actions = {
            str(k).upper(): v
            for k, v in dict(data.get("actions") or {}).items()
            if str(k).upper() in CATEGORIES and v in CATEGORY_ACTIONS
        }
        age_band = data.get("age_band")
        return cls(
            age_band=age_band if isinstance(age_band, str) and age_band in AGE_BANDS else "13-15",
            threshold=prob(data.get("threshold")),
            care_threshold=prob(data.get("care_threshold")),
            actions=actions,
            country=(str(data["country"]).upper() if data.get("country") else None),
            extra_categories=tuple(
                ExtraCategory.from_dict(x)
                for x in data.get("extra_categories") or ()
                if isinstance(x, Mapping) and x.get("key")
            ),
            block_injection=bool(data.get("block_injection", True)),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the database, the API and the teacher form."""
        return {
            "age_band": self.age_band,
            "threshold": self.threshold,
            "care_threshold": self.care_threshold,
            "actions": {code: self.action_for_code(code) for code in CATEGORIES},
            "country": self.country,
            "extra_categories": [x.to_dict() for x in self.extra_categories],
            "block_injection": self.block_injection,
        }

    def action_for_code(self, code: str) -> CategoryAction:
        """The configured action for one hazard code."""
        if code in self.actions:
            return self.actions[code]
        if code == "S12" and self.age_band in ("6-9", "10-12"):
            return "alert"
        return DEFAULT_ACTIONS.get(code, "block")

    def action_for(self, categories: Sequence[str]) -> Action:
        """The strictest action for a set of flagged categories (S11 means crisis)."""
        if SELF_HARM in categories:
            return "crisis"
        chosen = max((self.action_for_code(c) for c in categories or ("",)), key=_ORDER.__getitem__)
        return _moderation_action(chosen)

    def alerts_for(self, categories: Sequence[str]) -> bool:
        """Whether any flagged category alerts the teacher."""
        return SELF_HARM in categories or any(
            self.action_for_code(c) == "alert" for c in categories
        )


POLICY_SCHEMA: dict[str, Any] = {
    "age_band": {"type": "enum", "choices": list(AGE_BANDS), "default": "13-15"},
    "threshold": {
        "type": "number",
        "min": 0,
        "max": 1,
        "nullable": True,
        "help": "Unsafe score from which the category action applies; empty = guard default.",
    },
    "care_threshold": {
        "type": "number",
        "min": 0,
        "max": 1,
        "nullable": True,
        "help": "Scores from here up to the threshold are answered with care.",
    },
    "actions": {
        "type": "map",
        "keys": list(CATEGORIES),
        "choices": list(CATEGORY_ACTIONS),
        "labels": CATEGORIES,
    },
    "country": {"type": "enum", "choices": ["SE", "NO", "DE", "IT", "GB"], "nullable": True},
    "extra_categories": {
        "type": "list",
        "fields": ["key", "label", "action", "keywords", "examples"],
    },
    "block_injection": {"type": "boolean", "default": True},
}


def _keyword(pattern: str) -> re.Pattern[str]:
    """A teacher keyword as a regular expression (taken literally when it is not valid)."""
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        return re.compile(re.escape(pattern), re.IGNORECASE)


@dataclass(frozen=True)
class ModerationResult:
    """What the policy decided about one text."""

    action: Action
    verdict: Verdict
    text: str  # the text after personal data redaction
    redactions: tuple[str, ...] = ()
    message: str | None = None  # student-facing text for block/crisis/redaction, in their language
    alert_teacher: bool = False
    reason: str = (
        ""  # "safe", "care-band", "category", "injection", "extra:<key>", "error", "crisis"
    )
    injection: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        """True when the text may go on (possibly answered with care)."""
        return self.action in ("allow", "care")

    def to_dict(self) -> dict[str, Any]:
        """JSON form for the API and the audit log."""
        return {
            "action": self.action,
            "allowed": self.allowed,
            "verdict": self.verdict.to_dict(),
            "redactions": list(self.redactions),
            "message": self.message,
            "alert_teacher": self.alert_teacher,
            "reason": self.reason,
            "injection": list(self.injection),
        }


class Moderator:
    """Applies a course policy to guard verdicts; any failure blocks (fail closed)."""

    def __init__(self, guard: Guard, embedder: Any | None = None) -> None:
        """Wrap ``guard``; ``embedder`` (``embed_query``) enables example-based extra categories."""
        self.guard = guard
        self.embedder = embedder

    def _classify(self, conversation: list[Message], role: Role) -> Verdict:
        try:
            verdict = self.guard.classify(conversation, role=role)
        except Exception as exc:  # noqa: BLE001 - fail closed on any backend failure
            return Verdict(
                safe=False,
                score=1.0,
                backend=getattr(self.guard, "name", "?"),
                error=f"{type(exc).__name__}: {exc}",
            )
        if not isinstance(verdict, Verdict):
            return Verdict(
                safe=False,
                score=1.0,
                backend=getattr(self.guard, "name", "?"),
                error="backend returned no verdict",
            )
        return verdict

    def _extra(self, text: str, policy: CoursePolicy) -> ExtraCategory | None:
        matched: list[ExtraCategory] = []
        clean = normalize(text)
        for cat in policy.extra_categories:
            if any(_keyword(k).search(clean) for k in cat.keywords):
                matched.append(cat)
            elif cat.examples and self.embedder is not None:
                import numpy as np

                q = np.asarray(self.embedder.embed_query(clean))
                ex = np.asarray([self.embedder.embed_query(e) for e in cat.examples])
                if float((ex @ q).max()) >= cat.similarity:
                    matched.append(cat)
        return max(matched, key=lambda c: _ORDER[c.action], default=None)

    def _decide(
        self,
        conversation: list[Message],
        role: Role,
        policy: CoursePolicy,
        language: str,
        redactions: tuple[str, ...],
        check_injection: bool,
    ) -> ModerationResult:
        lang = language_code(language)
        text = conversation[-1].content
        found = tuple(injection.detect(text)) if check_injection else ()
        # every result carries the redacted text, its redactions and the patterns found
        result = partial(_result, text=text, redactions=redactions, injection=found)
        if found and policy.block_injection:
            verdict = Verdict(
                safe=False,
                score=1.0,
                backend="injection",
                categories=(),
                details={"injection": list(found)},
            )
            return result("block", verdict, message=refusal(lang), reason="injection")
        extra = self._extra(text, policy) if role == "user" else None
        verdict = self._classify(conversation, role)
        if verdict.error:
            return result("block", verdict, message=refusal(lang, error=True), reason="error")
        if check_injection and policy.block_injection and verdict.details.get("injection"):
            # the learned detector catches paraphrases the patterns miss
            return result(
                "block", verdict, message=refusal(lang), reason="injection", injection=("learned",)
            )
        note = redaction_notice(lang) if redactions else None
        threshold = policy.threshold
        unsafe = (not verdict.safe) if threshold is None else verdict.score >= threshold
        if unsafe:
            return _decide_unsafe(result, verdict, policy=policy, lang=lang, note=note)
        if extra is not None:
            action = _moderation_action(extra.action)
            msg = refusal(lang, extra=extra.label) if action == "block" else note
            return result(
                action,
                verdict,
                message=msg,
                alert=extra.action == "alert",
                reason=f"extra:{extra.key}",
            )
        return _decide_care(result, verdict, policy=policy, lang=lang, note=note)

    def check_question(
        self, text: str, *, policy: CoursePolicy, language: str = "en"
    ) -> ModerationResult:
        """Redact personal data, then check a student's question."""
        clean, kinds = redact(text)
        return self._decide([Message("user", clean)], "user", policy, language, kinds, True)

    def check_answer(
        self, question: str, answer: str, *, policy: CoursePolicy, language: str = "en"
    ) -> ModerationResult:
        """Check an answer (so far) in the context of the question it answers."""
        clean_q, _ = redact(question)
        clean, kinds = redact(answer)
        return self._decide(
            [Message("user", clean_q), Message("agent", clean)],
            "agent",
            policy,
            language,
            kinds,
            False,
        )

    def check_material(
        self, text: str, *, language: str = "en", policy: CoursePolicy | None = None
    ) -> ModerationResult:
        """Scan a chunk of course material: unsafe content and instructions aimed at the model."""
        return self._decide(
            [Message("agent", text)], "agent", policy or CoursePolicy(), language, (), True
        )


# the texts a student reads instead of an answer, and the helplines: data, in guard/messages.json
_MESSAGES = json.loads(Path(__file__).with_name("messages.json").read_text(encoding="utf-8"))
_REFUSAL: dict[str, str] = _MESSAGES["refusal"]
_EXTRA: dict[str, str] = _MESSAGES["course_refusal"]
_ERROR: dict[str, str] = _MESSAGES["unavailable"]
_REDACTED: dict[str, str] = _MESSAGES["redacted"]
_CRISIS: dict[str, str] = _MESSAGES["crisis"]
HELPLINES: dict[str, tuple[str, str]] = {
    code: (line["name"], line["number"]) for code, line in _MESSAGES["helplines"].items()
}
# helplines that also have a chat for young people (the crisis card links to it)
HELPLINE_CHATS: dict[str, str] = _MESSAGES["helpline_chats"]
_COUNTRY_FOR_LANGUAGE: dict[str, str] = _MESSAGES["country_for_language"]


def refusal(language: str, *, error: bool = False, extra: str | None = None) -> str:
    """The kind, age-appropriate refusal in the student's language."""
    lang = language_code(language)
    if extra is not None:
        return _EXTRA[lang].format(label=extra)
    table = _ERROR if error else _REFUSAL
    return table[lang]


def redaction_notice(language: str) -> str:
    """Tells the student that personal data was removed, and why."""
    return _REDACTED[language_code(language)]


def crisis_message(language: str, country: str | None = None) -> str:
    """A caring message with the helpline for the student's country, in their language."""
    lang = language_code(language)
    code = (country or _COUNTRY_FOR_LANGUAGE[lang]).upper()
    name, number = HELPLINES.get(code, HELPLINES[_COUNTRY_FOR_LANGUAGE[lang]])
    return _CRISIS[lang].format(name=name, number=number)


def _result(
    action: Action,
    verdict: Verdict,
    *,
    text: str,
    redactions: tuple[str, ...],
    message: str | None,
    reason: str,
    alert: bool = False,
    injection: tuple[str, ...] = (),
) -> ModerationResult:
    """One ``ModerationResult``, built by name (``Moderator._decide``)."""
    return ModerationResult(
        action=action,
        verdict=verdict,
        text=text,
        redactions=redactions,
        message=message,
        alert_teacher=alert,
        reason=reason,
        injection=injection,
    )


def _decide_unsafe(
    result: Callable[..., ModerationResult],
    verdict: Verdict,
    *,
    policy: CoursePolicy,
    lang: str,
    note: str | None,
) -> ModerationResult:
    """The course policy's action for a text the classifier found unsafe."""
    cats = verdict.categories or (verdict.details.get("top_category") or "",)
    action = policy.action_for(cats)
    alert = policy.alerts_for(cats)
    if action == "crisis":
        return result(
            "crisis",
            verdict,
            message=crisis_message(lang, policy.country),
            alert=True,
            reason="crisis",
        )
    if action == "block":
        return result("block", verdict, message=refusal(lang), alert=alert, reason="category")
    return result(action, verdict, message=note, alert=alert, reason="category")


def _decide_care(
    result: Callable[..., ModerationResult],
    verdict: Verdict,
    *,
    policy: CoursePolicy,
    lang: str,
    note: str | None,
) -> ModerationResult:
    """Allow a safe text, answered with care when its score is in the care band."""
    care = policy.care_threshold
    if care is None:
        care = verdict.details.get("care_threshold") if isinstance(verdict.details, dict) else None
    if care is not None and verdict.score >= care:
        if verdict.details.get("top_category") == SELF_HARM:  # careful answer + helpline
            help_text = crisis_message(lang, policy.country)
            return result("care", verdict, message=help_text, reason="care-band-self-harm")
        return result("care", verdict, message=note, reason="care-band")
    return result("allow", verdict, message=note, reason="safe")


# -- presets per age band (the teacher's policy page) ----------------------------------------
PRESETS_FILE = Path(__file__).with_name("presets.json")


@cache
def age_presets() -> dict[str, dict[str, Any]]:
    """``age band -> {"actions": {code: action}, "daily_question_limit": n}`` from
    :data:`PRESETS_FILE`.

    Every age band of :data:`AGE_BANDS` has one; S11 is never part of a preset (it always
    gets the crisis message). A preset that names an unknown code or action is refused.
    """
    data = json.loads(PRESETS_FILE.read_text(encoding="utf-8"))["presets"]
    presets = {}
    for band in AGE_BANDS:
        raw = data[band]
        actions = dict(raw["actions"])
        bad = {
            c: a
            for c, a in actions.items()
            if c not in CATEGORIES or c == SELF_HARM or a not in CATEGORY_ACTIONS
        }
        if bad:
            raise ValueError(f"{PRESETS_FILE.name}: preset {band!r} has invalid actions {bad}")
        presets[band] = {
            "actions": actions,
            "daily_question_limit": int(raw["daily_question_limit"]),
        }
    return presets


def with_preset(policy: CoursePolicy, age_band: str) -> CoursePolicy:
    """``policy`` with the age band and the category actions of the preset for ``age_band``.

    Everything else (thresholds, country, extra categories, injection blocking) is kept.
    """
    preset = age_presets()[age_band]
    return replace(policy, age_band=age_band, actions=dict(preset["actions"]))
