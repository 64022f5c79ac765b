"""Header aliases and the GX suites stay consistent with the input contract."""

from __future__ import annotations

import json

import pytest

from crm.contract import FIELDS, SOURCES, fold_header, header_lookup
from crm.ingest.errors import FileRejected
from crm.ingest.headers import check_header_map, map_headers
from crm.normalise.frame import TYPED_KINDS
from tests.conftest import REPO_ROOT


@pytest.mark.parametrize("source", SOURCES)
def test_every_alias_names_one_column(source):
    owners: dict[str, set[str]] = {}
    for field in FIELDS[source]:
        for header in field.all_headers():
            owners.setdefault(fold_header(header), set()).add(field.name)
    assert {h: o for h, o in owners.items() if len(o) > 1} == {}
    assert set(header_lookup(source).values()) == {f.name for f in FIELDS[source]}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (["訂單編號", "項次", "訂單日期", "客戶", "料號", "數量", "單價"], "traditional"),
        (["订单编号", "项次", "订单日期", "客户", "料号", "数量", "单价"], "simplified"),
        (["Order ID", "Line No", "Order Date", "Customer", "SKU", "Qty", "Unit Price"], "english"),
        (
            ["\ufefforder_id", " LINE_NO ", "order-date", "CUSTOMER REF", "sku", "QUANTITY", "unit price"],
            "variants",
        ),
    ],
)
def test_sales_headers_map_in_three_scripts(headers, expected):
    header_map = check_header_map("sales", map_headers("sales", headers), f"{expected}.csv")
    assert set(header_map.positions) == {
        "order_id",
        "line_no",
        "order_date",
        "customer_ref",
        "sku",
        "quantity",
        "unit_price",
    }


def test_missing_required_column_is_rejected_with_names():
    with pytest.raises(FileRejected) as info:
        check_header_map(
            "sales", map_headers("sales", ["Order ID", "Line No", "Customer", "SKU", "Qty"]), "x.csv"
        )
    assert info.value.reason_code == "missing_required_columns"
    assert (
        "order_date" in info.value.message
        and "unit_price" in info.value.message
        and "x.csv" in info.value.message
    )


def test_duplicated_header_is_rejected():
    headers = ["Order ID", "Line No", "Order Date", "Customer", "SKU", "Qty", "Unit Price", "數量"]
    with pytest.raises(FileRejected) as info:
        check_header_map("sales", map_headers("sales", headers), "dup.csv")
    assert info.value.reason_code == "duplicate_header" and "quantity" in info.value.message


def _suite(source: str) -> dict:
    return json.loads((REPO_ROOT / "expectations" / f"{source}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("source", SOURCES)
def test_suite_covers_the_contract(source):
    suite = _suite(source)
    assert suite["name"] == source
    rules = {(e["type"], e["kwargs"].get("column")): e["meta"]["reason_code"] for e in suite["expectations"]}
    for field in FIELDS[source]:
        raw = f"{field.name}__raw" if field.kind in TYPED_KINDS else field.name
        if field.required:
            assert ("expect_column_values_to_not_be_null", raw) in rules, f"{field.name}: no 'missing' rule"
        if field.kind in TYPED_KINDS:
            assert ("expect_column_values_to_not_be_null", field.name) in rules, (
                f"{field.name}: no parse rule"
            )
        if field.min_value is not None or field.max_value is not None:
            assert ("expect_column_values_to_be_between", field.name) in rules, f"{field.name}: no range rule"
    assert ("expect_column_values_to_be_null", "_duplicate_of") in rules
    for expectation in suite["expectations"]:
        assert expectation["meta"]["reason_code"], expectation


@pytest.fixture(scope="module")
def validator(tmp_path_factory):
    from crm.ingest.validation import BatchValidator

    return BatchValidator(REPO_ROOT / "expectations", tmp_path_factory.mktemp("gx"))


def test_suite_passes_good_rows_and_names_each_bad_one(validator):
    import pandas as pd

    from crm.normalise.frame import normalise_frame

    batch = pd.DataFrame(
        {
            "response_id": ["Q1", "Q2", "Q3", "Q4"],
            "respondent_name": ["陳大文", "王美", None, "李雷"],
            "phone": ["0912345678", "12", None, None],
            "email": ["a@b.com", "bad-email", None, None],
            "customer_type": ["個人", "企業", "政府", "外星人"],
            "survey_date": ["2024/3/1", "2099-01-01", "2024-03-01", "2024-02-30"],
            "overall_satisfaction": ["5", "7", "3", "4"],
            "recommend_score": ["9", "11", "5", "5"],
            "has_complained": ["否", "否", "是", "是"],
            "complaint_resolved": [None, "是", "否", None],
        },
        index=pd.Index([1, 2, 3, 4], name="_source_row"),
    )
    frame = normalise_frame("questionnaires", batch)
    frame["_duplicate_of"] = None
    result = validator.validate("questionnaires", frame, run_name="test-suite")
    reasons = {row: sorted(f.reason_code for f in failures) for row, failures in result.row_failures.items()}
    assert 1 not in reasons
    assert reasons[2] == sorted(
        [
            "phone_malformed",
            "email_malformed",
            "survey_date_out_of_range",
            "overall_satisfaction_out_of_range",
            "recommend_score_out_of_range",
            "complaint_resolved_without_complaint",
        ]
    )
    assert reasons[3] == ["respondent_name_missing"]
    assert reasons[4] == sorted(["customer_type_unrecognised", "survey_date_invalid_date"])
    assert result.table_failures == []
