"""Personal identifier detection and redaction (e-mail, phone, Nordic national ids).

Swedish personnummer/samordningsnummer (10 or 12 digits) are accepted only when their
Luhn check digit is right; Norwegian fødselsnummer/D-nummer (11 digits) only when both
modulus-11 check digits are right. Phone numbers must look like phone numbers (a ``+`` or
``00`` country prefix, a leading trunk ``0``, or a Norwegian eight-digit number in its usual
grouping), so years, year ranges and dates in schoolwork are left alone.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}\b")
_PERSONNUMMER = re.compile(r"(?<![\d-])(?:(?:19|20)(\d{2})|(\d{2}))(\d{4})([-+ ]?)(\d{4})(?![\d-])")
_FODSELSNUMMER = re.compile(r"(?<![\d-])(\d{6}) ?(\d{5})(?![\d-])")
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"(?:\+|00)\d{1,3}[ \-]?(?:\(0\)[ \-]?)?\d(?:[ \-]?\d){5,12}"  # international
    r"|0\d{1,3}(?:[ \-/]?\d){5,10}"  # national with trunk 0 (SE, DE, IT)
    r"|[2-9]\d{2} \d{2} \d{3}|[2-9]\d (?:\d{2} ){2}\d{2}|[49]\d{7}"  # Norwegian
    r")(?![\w])"
)


def luhn_ok(digits: str) -> bool:
    """Luhn check as used by the Swedish personnummer (on its last ten digits)."""
    total = 0
    for i, ch in enumerate(digits):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _valid_date(yymmdd: str, *, d_number: bool = False) -> bool:
    month, day = int(yymmdd[2:4]), int(yymmdd[4:6])
    if day > 60:  # samordningsnummer (SE) adds 60 to the day
        day -= 60
    if d_number and day > 40:  # D-nummer (NO) adds 40 to the day
        day -= 40
    return 1 <= month <= 12 and 1 <= day <= 31


def personnummer_ok(number: str) -> bool:
    """A ten-digit personnummer (YYMMDDNNNC) with a plausible date and a right Luhn digit."""
    return len(number) == 10 and number.isdigit() and _valid_date(number[:6]) and luhn_ok(number)


def fodselsnummer_ok(number: str) -> bool:
    """Modulus-11 check digits of a Norwegian fødselsnummer (or D-nummer)."""
    if len(number) != 11 or not number.isdigit() or not _valid_date(number[:6], d_number=True):
        return False
    d = [int(c) for c in number]
    w1 = [3, 7, 6, 1, 8, 9, 4, 5, 2]
    w2 = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2]
    k1 = 11 - sum(a * b for a, b in zip(w1, d[:9], strict=True)) % 11
    k1 = 0 if k1 == 11 else k1
    k2 = 11 - sum(a * b for a, b in zip(w2, d[:10], strict=True)) % 11
    k2 = 0 if k2 == 11 else k2
    return k1 < 10 and k2 < 10 and d[9] == k1 and d[10] == k2


def _pnr(m: re.Match[str]) -> bool:
    yy = m.group(1) or m.group(2)
    return personnummer_ok(yy + m.group(3) + m.group(5))


def _fnr(m: re.Match[str]) -> bool:
    return fodselsnummer_ok(m.group(1) + m.group(2))


def _phone(m: re.Match[str]) -> bool:
    return 8 <= sum(c.isdigit() for c in m.group(0)) <= 15


_DETECTORS: tuple[tuple[str, re.Pattern[str], Callable[[re.Match[str]], bool] | None], ...] = (
    ("email", _EMAIL, None),
    ("personnummer", _PERSONNUMMER, _pnr),
    ("fodselsnummer", _FODSELSNUMMER, _fnr),
    ("phone", _PHONE, _phone),
)


def redact(text: str) -> tuple[str, tuple[str, ...]]:
    """Replace personal identifiers by ``[kind]`` placeholders; return text and kinds found."""
    kinds: list[str] = []
    for label, pattern, check in _DETECTORS:

        def repl(
            m: re.Match[str],
            label: str = label,
            check: Callable[[re.Match[str]], bool] | None = check,
        ) -> str:
            if check and not check(m):
                return m.group(0)
            kinds.append(label)
            return f"[{label}]"

        text = pattern.sub(repl, text)
    return text, tuple(dict.fromkeys(kinds))
