"""Rendering a person's attributes as one file's staff would type them."""

from __future__ import annotations

import random

from crm.sample_data.people import ENGLISH, PersonPool
from crm.sample_data.scripts import Script, in_script
from crm.sample_data.styles import FileStyle
from crm.sample_data.variants import (
    N_PHONE_STYLES,
    format_phone,
    fullwidth_digits,
    vary_chinese_name,
    vary_email,
    vary_latin_name,
)


class PersonRenderer:
    """Typed forms of person attributes for one file (script conversion plus typing variation)."""

    def __init__(self, pool: PersonPool, style: FileStyle, rng: random.Random) -> None:
        self.pool = pool
        self.style = style
        self.rng = rng
        self._phone_style = rng.randrange(N_PHONE_STYLES)  # the file's usual phone format

    def text(self, value: str | None) -> str:
        """Free text (address, company, region, industry) in the file's script."""
        if not value:
            return ""
        return in_script(value, self.style.script) if self.style.script is not Script.ENGLISH else value

    def name(self, i: int) -> str:
        pool = self.pool
        if pool.origin[i] == ENGLISH:
            return vary_latin_name(pool.name[i], self.rng)
        if self.style.script is Script.TRADITIONAL:
            name = pool.name_traditional[i]
        elif self.style.script is Script.SIMPLIFIED:
            name = pool.name_simplified[i]
        else:
            name = pool.name[i]
        return vary_chinese_name(name, self.rng)

    def phone(self, i: int) -> str:
        phone = self.pool.phone[i]
        if phone is None:
            return ""
        style = self._phone_style if self.rng.random() < 0.7 else self.rng.randrange(N_PHONE_STYLES)
        text = format_phone(phone, style)
        if self.rng.random() < self.style.fullwidth_share * 3:
            text = fullwidth_digits(text)
        return text

    def email(self, i: int) -> str:
        email = self.pool.email[i]
        return "" if email is None else vary_email(email, self.rng)

    def number(self, text: str) -> str:
        """A number as typed: sometimes with full-width digits."""
        if self.style.fullwidth_share and self.rng.random() < self.style.fullwidth_share:
            return fullwidth_digits(text)
        return text
