"""How the same value gets typed differently: phone formats, e-mail case, name spacing, full-width."""

from __future__ import annotations

import random
from dataclasses import dataclass

_FULLWIDTH = {code: code + 0xFEE0 for code in range(0x21, 0x7F)}
_FULLWIDTH_DIGITS = {ord(d): ord(d) + 0xFEE0 for d in "0123456789"}


def to_fullwidth(text: str) -> str:
    """ASCII to full-width forms (as typed with a Chinese IME in full-width mode)."""
    return text.translate(_FULLWIDTH)


def fullwidth_digits(text: str) -> str:
    return text.translate(_FULLWIDTH_DIGITS)


@dataclass(frozen=True, slots=True)
class Phone:
    """A phone number: country calling code and national significant number (no trunk 0)."""

    country_code: str  # "886" or "86"
    national: str  # TW mobile "912345678", TW landline "223456789", CN mobile "13800138000"

    @property
    def e164(self) -> str:
        return f"+{self.country_code}{self.national}"

    @property
    def is_tw_mobile(self) -> bool:
        return self.country_code == "886" and self.national.startswith("9")


#: Formats staff use, per kind of number. Each takes a Phone and returns the typed text.
def _tw_mobile(p: Phone, style: int) -> str:
    n = p.national
    return (
        f"+886 {n[:3]} {n[3:6]} {n[6:]}",
        f"0{n[:3]}-{n[3:6]}-{n[6:]}",
        f"0{n}",
        f"0{n[:3]} {n[3:6]} {n[6:]}",
        f"+886{n}",
        f"0{n[:3]}-{n[3:]}",
    )[style % 6]


def _tw_landline(p: Phone, style: int) -> str:
    area, local = p.national[0], p.national[1:]
    return (
        f"(0{area}) {local[:4]}-{local[4:]}",
        f"0{area}-{local[:4]}-{local[4:]}",
        f"0{area}{local}",
        f"+886 {area} {local[:4]} {local[4:]}",
        f"0{area}-{local}",
        f"(0{area}){local}",
    )[style % 6]


def _cn_mobile(p: Phone, style: int) -> str:
    n = p.national
    return (
        f"+86 {n[:3]} {n[3:7]} {n[7:]}",
        f"{n[:3]}-{n[3:7]}-{n[7:]}",
        n,
        f"+86{n}",
        f"+86 {n}",
        f"{n[:3]} {n[3:7]} {n[7:]}",
    )[style % 6]


N_PHONE_STYLES = 6


def format_phone(phone: Phone, style: int) -> str:
    if phone.country_code == "86":
        return _cn_mobile(phone, style)
    if phone.is_tw_mobile:
        return _tw_mobile(phone, style)
    return _tw_landline(phone, style)


def malformed_phone(phone: Phone, rng: random.Random) -> str:
    """A phone no parser can turn into a valid number: digits lost, letters typed, too long."""
    text = format_phone(phone, rng.randrange(N_PHONE_STYLES))
    kind = rng.randrange(4)
    if kind == 0:
        return f"0{phone.national[:4]}"  # typing stopped early
    if kind == 1:
        return text.replace("1", "l").replace("0", "O", 1) if "1" in text else "09OO-ABC-DEF"
    if kind == 2:
        return f"0{phone.national}{phone.national[:5]}"  # digits typed twice
    return "123"


def vary_email(email: str, rng: random.Random) -> str:
    """Same address, typed differently: case changes and stray spaces (all fold to ``email``)."""
    roll = rng.random()
    if roll < 0.70:
        return email
    if roll < 0.80:
        return email.upper()
    if roll < 0.90:
        user, _, domain = email.partition("@")
        return f"{user[:1].upper()}{user[1:]}@{domain.capitalize()}"
    return f" {email} "


def malformed_email(email: str, rng: random.Random) -> str:
    user, _, domain = email.partition("@")
    kind = rng.randrange(4)
    if kind == 0:
        return f"{user}@@{domain}"
    if kind == 1:
        return f"{user} {domain}"
    if kind == 2:
        return f"{user}@{domain.split('.')[0]}"
    return f"{user}@{domain},"


def vary_chinese_name(name: str, rng: random.Random) -> str:
    """Extra spaces as typed: between surname and given name, around, or full-width."""
    roll = rng.random()
    if roll < 0.85 or len(name) < 2:
        return name
    if roll < 0.93:
        return f"{name[0]} {name[1:]}"
    if roll < 0.97:
        return f" {name}"
    return f"{name[0]}\u3000{name[1:]}"


def vary_latin_name(name: str, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.75:
        return name
    if roll < 0.85:
        return name.upper()
    if roll < 0.92:
        return name.lower()
    return f"{name}  " if roll < 0.96 else name.replace(" ", "  ")


def retype_text(text: str, rng: random.Random) -> str:
    """Re-typed with different spacing or case: the same value once trimmed and folded."""
    if not text:
        return " "
    if text.isascii():
        return [text.upper(), text.lower(), f" {text}", f"{text} "][rng.randrange(4)]
    return [f" {text}", f"{text} ", f"{text}\u3000"][rng.randrange(3)]
