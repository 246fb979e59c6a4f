"""Owner data is confidential (guide 2): phones are masked everywhere outside the main tab.

Not only the phone column: staff type phones into 事由, into the name column, even into a date
cell (whose note then quotes it). `mask_phones_in_text` finds mainland mobiles (11 digits from
1[3-9], with or without +86/86, spaces or dashes) and landlines with an area code (0 + 2-3
digits, then 7-8 digits) inside any text; `mask_phones` does it for whole columns at once.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # only annotations: logging (which masks phones) must not import pandas
    import pandas as pd

_NOT_DIGIT = re.compile(r"\D")
# Not inside a longer run of letters or digits (a record id, a Message-ID, a hash).
MOBILE_IN_TEXT = re.compile(r"(?<![0-9A-Za-z_.])(?:\+?86[-\s]?)?1[3-9](?:[-\s]?\d){9}(?![0-9A-Za-z_])")
# Not after ":" or "-" either, so that times and ISO dates are left alone.
LANDLINE_IN_TEXT = re.compile(r"(?<![0-9A-Za-z_.:-])(?:\(0\d{2,3}\)|0\d{2,3})[-\s]?\d{3,4}[-\s]?\d{4}(?![0-9A-Za-z_:])")
# A cheap first look: texts without 7 digits in a row, allowing separators, hold no phone.
_MAYBE_PHONE = re.compile(r"\d(?:[-\s()]?\d){6}")


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


def _masked(match: re.Match) -> str:
    return mask_phone(match.group(0))


def mask_phones_in_text(text: str) -> str:
    """`text` with every phone number in it masked as `mask_phone` does."""
    if not text:
        return text
    return LANDLINE_IN_TEXT.sub(_masked, MOBILE_IN_TEXT.sub(_masked, text))


def mask_phones(values: pd.Series) -> pd.Series:
    """`mask_phones_in_text` over a column of texts (non-text cells are left as they are); the
    column itself when no cell holds a phone. The cells that may hold one (seven digits in a
    row) are found by one search over the column's texts joined, not a search per cell."""
    if values.empty:
        return values
    texts = [value if type(value) is str else "" for value in values.tolist()]
    joined = "\x00".join(texts)  # no digit, space or bracket: a match never spans two cells
    if _MAYBE_PHONE.search(joined) is None:
        return values
    ends = list(accumulate(len(text) + 1 for text in texts))  # where each cell's successor starts
    maybe = sorted({bisect_right(ends, match.start()) for match in _MAYBE_PHONE.finditer(joined)})
    masked = [(position, mask_phones_in_text(texts[position])) for position in maybe]
    masked = [(position, text) for position, text in masked if text != texts[position]]
    if not masked:
        return values
    out = values.astype(object, copy=True)
    out.iloc[[position for position, _ in masked]] = [text for _, text in masked]
    return out


# The staff text an evaluation carries into summary tabs and mails (the phone column itself is
# masked where it is shown, by `mask_phone`).
FREE_TEXT_KEYS = ("owner_name", "matter", "department", "result", "room", "recorded_by", "system_note",
                  "satisfaction_text", "supervisor_review", "manager_review")


def with_phones_masked(evaluation: pd.DataFrame) -> pd.DataFrame:
    """The evaluation as shown outside the main tab: phones masked in its free-text columns."""
    masked = {key: mask_phones(evaluation[key]) for key in FREE_TEXT_KEYS if key in evaluation}
    changed = {key: column for key, column in masked.items() if column is not evaluation[key]}
    return evaluation.assign(**changed) if changed else evaluation
