"""Owner data is confidential (guide 2): phones are masked everywhere outside the main tab."""

from __future__ import annotations

import re

_NOT_DIGIT = re.compile(r"\D")


def mask_phone(phone: str) -> str:
    """Keep the first 3 and last 4 digits: 13812345678 → 138****5678 (SPEC 4.1).

    Numbers too short for that keep only their last 2 digits; blank stays blank."""
    digits = _NOT_DIGIT.sub("", phone or "")
    if not digits:
        return "****" if (phone or "").strip() else ""
    if len(digits) == 13 and digits.startswith("86"):  # +86 country code before a mobile number
        digits = digits[2:]
    if len(digits) >= 8:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    return "*" * max(len(digits) - 2, 2) + digits[-2:]
