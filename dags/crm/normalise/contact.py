"""Phone numbers (E.164 via phonenumbers) and e-mail addresses."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import phonenumbers

from crm.normalise.text import clean_text

#: Regions tried, in order, for numbers written without a country code.
DEFAULT_PHONE_REGIONS: tuple[str, ...] = ("TW", "CN")

_LOCAL = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
EMAIL_PATTERN = rf"^{_LOCAL}(?:\.{_LOCAL})*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z]{{2,}}$"
_EMAIL = re.compile(EMAIL_PATTERN)
_INTL_PREFIX = re.compile(r"^(00|\+)")
#: Parsed numbers remembered by ``_e164`` (one entry is about 300 bytes): customers write one number in
#: many ways ('0912-345-678', '0912 345 678', '+886 912 345 678'), and each way used to be parsed anew.
PHONE_CACHE_SIZE = 2**18


def phone_to_e164(value: object, regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS) -> str | None:
    """Parse a phone number as people write it and return E.164 ('+886912345678'), or None if invalid.

    Accepts full-width digits, spaces, dashes, brackets, '+886'/'886'/'00886' prefixes and local
    formats ('0912-345-678', '(02) 2345-6789', '138 0013 8000'). A number without a country code is
    tried against each region in ``regions`` in turn and must be a *valid* number there.
    """
    text = clean_text(value)
    if text is None:
        return None
    text = _INTL_PREFIX.sub("+", text)
    digits = re.sub(r"\D", "", text)
    if not 6 <= len(digits) <= 15:
        return None
    return _e164(text.startswith("+"), digits, regions)


@lru_cache(maxsize=PHONE_CACHE_SIZE)
def _e164(international: bool, digits: str, regions: tuple[str, ...]) -> str | None:
    """The E.164 form of ``digits`` (written with a leading '+' or '00' when ``international``).

    Only these arguments reach ``phonenumbers``, so every spelling of one number is parsed once.
    """
    candidates: list[tuple[str, str | None]] = []
    if international:
        candidates.append(("+" + digits, None))
    else:
        if digits.startswith(("886", "86")) and len(digits) >= 11:
            candidates.append(("+" + digits, None))
        candidates.extend((digits, region) for region in regions)
    for number, region in candidates:
        try:
            parsed = phonenumbers.parse(number, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(parsed):
            return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return None


def clean_email(value: object) -> str | None:
    """Trim, NFKC-fold and lower-case an e-mail address (validity is checked by the GX suite)."""
    text = clean_text(value)
    if text is None:
        return None
    return unicodedata.normalize("NFKC", text.replace(" ", "")).lower()


def is_valid_email(value: str | None) -> bool:
    return value is not None and _EMAIL.match(value) is not None
