"""Unit and property-based tests of the value normalisers."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm.contract import YES_NO
from crm.normalise import text as text_module
from crm.normalise.contact import clean_email, is_valid_email, phone_to_e164
from crm.normalise.dates import parse_date
from crm.normalise.frame import classify_ref, normalise_frame
from crm.normalise.text import clean_text, name_key
from crm.normalise.values import parse_bool, parse_decimal, parse_int, parse_rate, vocabulary_lookup


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("0912-345-678", "+886912345678"),
        ("0912345678", "+886912345678"),
        ("+886 912 345 678", "+886912345678"),
        ("886912345678", "+886912345678"),
        ("00886-912-345-678", "+886912345678"),
        ("０９１２－３４５－６７８", "+886912345678"),
        ("(02) 2345-6789", "+886223456789"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("12345", None),
        ("0912-34", None),
        ("not a phone", None),
        ("", None),
        (None, None),
    ],
)
def test_phone_to_e164(raw, expected):
    assert phone_to_e164(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-05", dt.date(2024, 3, 5)),
        ("2024/3/5", dt.date(2024, 3, 5)),
        ("2024.03.05", dt.date(2024, 3, 5)),
        ("20240305", dt.date(2024, 3, 5)),
        ("2024年3月5日", dt.date(2024, 3, 5)),
        ("113/03/05", dt.date(2024, 3, 5)),
        ("112/05/01", dt.date(2023, 5, 1)),
        ("民國113年3月5日", dt.date(2024, 3, 5)),
        ("113年3月5日", dt.date(2024, 3, 5)),
        ("2024-03-05 14:30:00", dt.date(2024, 3, 5)),
        ("2024-03-05T14:30:00Z", dt.date(2024, 3, 5)),
        ("5-Mar-2024", dt.date(2024, 3, 5)),
        ("Mar 5, 2024", dt.date(2024, 3, 5)),
        ("２０２４－０３－０５", dt.date(2024, 3, 5)),
        (dt.datetime(2024, 3, 5, 10, 0), dt.date(2024, 3, 5)),
        ("2023-02-30", None),
        ("2024-13-01", None),
        ("yesterday", None),
        ("", None),
    ],
)
def test_parse_date(raw, expected):
    assert parse_date(raw) == expected


def test_names_fold_traditional_simplified_and_spacing():
    assert name_key("陳 大文") == name_key("陈大文") == "陈大文"
    assert name_key("CHEN Da-Wen") == name_key("chen dawen")
    assert clean_text("　ＡＢＣ　１２３ ") == "ABC 123"
    assert clean_text("   ") is None


def test_email_cleaning_and_validity():
    assert clean_email(" Li.Lei@Example.COM ") == "li.lei@example.com"
    assert is_valid_email("li.lei@example.com")
    assert not is_valid_email("li.lei@")
    assert not is_valid_email("bad-email")


def test_numbers_rates_and_booleans():
    assert parse_decimal("1,280") == 1280
    assert parse_decimal("NT$1,280.5") == pytest.approx(1280.5)
    assert parse_decimal("１２８０") == 1280
    assert parse_decimal("12abc") is None
    assert parse_int("3.0") == 3
    assert parse_int("3.5") is None
    assert float(parse_rate("10%")) == pytest.approx(0.10)
    assert float(parse_rate("0.1")) == pytest.approx(0.10)
    assert float(parse_rate("9折")) == pytest.approx(0.10)
    assert float(parse_rate("85折")) == pytest.approx(0.15)
    lookup = vocabulary_lookup(YES_NO)
    assert parse_bool("是", lookup) is True
    assert parse_bool("N", lookup) is False
    assert parse_bool("maybe", lookup) is None


def test_classify_customer_ref():
    assert classify_ref("M00012345") == ("member_id", "M00012345")
    assert classify_ref("m0001 2345") == ("member_id", "M00012345")
    assert classify_ref("0912-345-678") == ("phone", "+886912345678")
    assert classify_ref("Bob@X.com") == ("email", "bob@x.com")
    assert classify_ref("陳 大文") == ("name", "陈大文")
    assert classify_ref("  ") is None


def test_normalise_frame_keeps_raw_text_for_typed_columns():
    batch = pd.DataFrame(
        {
            "order_id": [" SO-1 ", "SO-2"],
            "line_no": ["1", "x"],
            "order_date": ["113/01/05", "2023-02-30"],
            "customer_ref": ["M00000001", "陳大文"],
            "sku": ["A", "B"],
            "quantity": ["２", "-1"],
            "unit_price": ["1,280", "abc"],
            "discount": ["10%", ""],
            "channel": ["門市", "??"],
        },
        index=pd.Index([1, 2], name="_source_row"),
    )
    frame = normalise_frame("sales", batch)
    assert frame.loc[1, "order_id"] == "SO-1"
    assert frame.loc[1, "order_date"] == pd.Timestamp("2024-01-05")
    assert pd.isna(frame.loc[2, "order_date"]) and frame.loc[2, "order_date__raw"] == "2023-02-30"
    assert frame.loc[1, "quantity"] == 2
    assert pd.isna(frame.loc[2, "line_no"]) and frame.loc[2, "line_no__raw"] == "x"
    assert frame.loc[1, "channel"] == "store" and frame.loc[2, "channel"] is None
    assert frame.loc[2, "customer_ref_type"] == "name"
    assert pd.isna(frame.loc[2, "discount"]) and frame.loc[2, "discount__raw"] is None


# --- properties: no crash on any unicode, idempotence --------------------------------------------

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_normalisers_never_crash(value):
    phone_to_e164(value)
    parse_date(value)
    name_key(value)
    clean_email(value)
    parse_decimal(value)
    parse_rate(value)
    classify_ref(value)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_text_normalisers_are_idempotent(value):
    once = clean_text(value)
    assert clean_text(once) == once
    key = name_key(value)
    assert key is None or name_key(key) == key
    email = clean_email(value)
    assert email is None or clean_email(email) == email


@settings(max_examples=200, deadline=None)
@given(st.from_regex(r"09\d{8}", fullmatch=True), st.sampled_from(["", " ", "-"]))
def test_phone_e164_is_a_fixed_point(digits, sep):
    written = f"{digits[:4]}{sep}{digits[4:7]}{sep}{digits[7:]}"
    e164 = phone_to_e164(written)
    if e164 is not None:
        assert phone_to_e164(e164) == e164


@settings(max_examples=200, deadline=None)
@given(st.dates(min_value=dt.date(1912, 1, 1), max_value=dt.date(2100, 12, 31)))
def test_date_formats_round_trip(day):
    roc = day.year - 1911
    for text in (
        day.isoformat(),
        f"{day.year}/{day.month}/{day.day}",
        f"{day:%Y%m%d}",
        f"{day.year}年{day.month}月{day.day}日",
        f"民國{roc}年{day.month}月{day.day}日",
    ):
        assert parse_date(text) == day
    if 10 <= roc < 1000:  # the slash form needs a two- or three-digit ROC year
        assert parse_date(f"{roc}/{day.month:02d}/{day.day:02d}") == day


# --- more properties: each normaliser is a fixed point on its own output, whole frames never crash ----

ANY_TEXT = st.text(max_size=40)  # surrogates included: JSON escapes can produce them
DIGITISH = st.text(alphabet="0123456789０１２３４５６７８９+-() ./年月日民國", max_size=20)


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, DIGITISH))
def test_date_parsing_is_idempotent_on_its_own_output(value):
    day = parse_date(value)
    if day is not None:
        assert parse_date(day.isoformat()) == day
        assert parse_date(day) == day


@settings(max_examples=300, deadline=None)
@given(st.one_of(ANY_TEXT, DIGITISH))
def test_phone_normalisation_is_idempotent_on_its_own_output(value):
    e164 = phone_to_e164(value)
    if e164 is not None:
        assert e164.startswith("+") and e164[1:].isdigit()
        assert phone_to_e164(e164) == e164


@settings(max_examples=300, deadline=None)
@given(ANY_TEXT)
def test_email_and_name_normalisers_never_raise_and_are_idempotent_on_any_code_point(value):
    email = clean_email(value)
    assert email is None or clean_email(email) == email
    assert is_valid_email(email) in (True, False)
    key = name_key(value)
    assert key is None or name_key(key) == key


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["sales", "questionnaires", "reply_cards"]), st.lists(ANY_TEXT, min_size=1, max_size=5)
)
def test_normalise_frame_never_raises_on_any_cell_text(source, cells):
    from crm.contract import FIELDS

    columns = [f.name for f in FIELDS[source]]
    batch = pd.DataFrame(
        {c: [cells[(i + j) % len(cells)] for j in range(len(cells))] for i, c in enumerate(columns)},
        index=pd.Index(range(1, len(cells) + 1), name="_source_row"),
    )
    frame = normalise_frame(source, batch)
    assert list(frame.index) == list(batch.index)


def _clean_text_full_path(value: str) -> str | None:
    """clean_text without its printable-ASCII shortcut (the definition the shortcut must agree with)."""
    text = unicodedata.normalize("NFKC", value)
    text = text_module._CONTROL.sub("", text)
    text = text_module._SPACES.sub(" ", text).strip()
    return text or None


@settings(max_examples=3000, deadline=None)
@given(
    st.one_of(
        st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x7F)),
        st.text(alphabet=" \t\n\r\x0b\x0c\x1c\x1f\x7fab1@.-"),
        st.text(),
    )
)
def test_clean_text_ascii_shortcut_agrees_with_the_full_path(value):
    assert clean_text(value) == _clean_text_full_path(value)


@pytest.mark.parametrize(
    ("value", "shortcut"),
    [
        ("SO2024010100001", True),
        ("a.b@example.com", True),
        ("0912-345-678", True),
        ("", False),
        (" SO1", False),
        ("SO1 ", False),
        ("a  b", False),
        ("a\tb", False),
        ("a\x7fb", False),
        ("ＳＯ１", False),
        ("陳大文", False),
    ],
)
def test_clean_text_ascii_shortcut_takes_only_text_that_is_already_clean(value, shortcut):
    assert text_module._is_clean_ascii(value) is shortcut
    assert clean_text(value) == _clean_text_full_path(value)
