"""The input contract: canonical columns per source, header aliases, kinds and vocabularies.

This module is the single definition shared by the sample-data generator, the ingestion
(header mapping, normalisation, raw-table DDL), the Great Expectations suites and the dbt
sources. Anyone dropping real exports into ``landing/<source>/`` must follow it; the README
section "Input format" is generated from the same tables (see ``docs/input_format.md``).

Kinds and the raw-table columns they produce:

=========  ==========================================================================
kind       columns in ``raw.<source>``
=========  ==========================================================================
text       ``<name>`` VARCHAR (NFKC-folded: full-width to half-width, trimmed, '' -> NULL)
name       ``<name>`` VARCHAR as written + ``<name>_norm`` (Simplified, lower-case, no spaces)
phone      ``<name>`` VARCHAR as written (cleaned) + ``<name>_e164`` (E.164 or NULL)
email      ``<name>`` VARCHAR lower-cased and trimmed
date       ``<name>`` DATE (many input formats, ROC years, full-width digits)
int        ``<name>`` BIGINT
decimal    ``<name>`` DECIMAL(18, 4)
bool       ``<name>`` BOOLEAN (是/否, Y/N, yes/no, true/false, 1/0, ...)
label      ``<name>`` VARCHAR holding the canonical code from ``vocabulary``
ref        ``<name>`` VARCHAR as written + ``<name>_type`` (member_id/phone/email/name)
           + ``<name>_norm`` (the normalised key for that type)
=========  ==========================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field

SOURCES: tuple[str, ...] = ("questionnaires", "reply_cards", "sales")

#: File types accepted per source (by extension, lower-case, without the dot).
FILE_TYPES: dict[str, tuple[str, ...]] = {
    "questionnaires": ("csv", "xlsx"),
    "reply_cards": ("jsonl", "csv"),
    "sales": ("csv",),
}

#: Member ids look like M00012345 (the letter M and eight digits).
MEMBER_ID_PATTERN = r"^M\d{8}$"

#: Lineage columns added to every row in raw.<source> (and quarantine.<source>).
LINEAGE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_source_file", "VARCHAR"),
    ("_source_row", "BIGINT"),
    ("_file_sha256", "VARCHAR"),
    ("_batch_id", "VARCHAR"),
    ("_loaded_at", "TIMESTAMP WITH TIME ZONE"),
)


@dataclass(frozen=True)
class Field:
    """One canonical input column."""

    name: str
    kind: str
    required: bool = False
    aliases: tuple[str, ...] = ()
    vocabulary: dict[str, tuple[str, ...]] = field(default_factory=dict)
    min_value: float | None = None
    max_value: float | None = None
    description: str = ""

    def all_headers(self) -> tuple[str, ...]:
        return (self.name, *self.aliases)


YES_NO = {
    "true": ("是", "有", "yes", "y", "true", "t", "1", "已", "會", "会", "願意", "愿意"),
    "false": ("否", "無", "无", "no", "n", "false", "f", "0", "未", "不會", "不会", "不願意", "不愿意"),
}

CUSTOMER_TYPES = {
    "individual": ("個人", "个人", "individual", "personal", "person", "consumer", "個人戶", "个人户"),
    "enterprise": ("企業", "企业", "公司", "enterprise", "company", "business", "corporate", "b2b"),
    "government": ("政府", "政府機關", "政府机关", "機關", "机关", "government", "gov", "public sector"),
}

LEAVE_REASONS = {
    "price": ("價格", "价格", "價錢", "价钱", "price", "too expensive", "太貴", "太贵"),
    "product": ("產品", "产品", "品質", "质量", "product", "quality"),
    "service": ("服務", "服务", "service", "support"),
    "other": ("其他", "其它", "other", "others"),
}

CHANNELS = {
    "store": ("門市", "门店", "門店", "store", "retail", "shop", "pos"),
    "online": ("網路", "网络", "網購", "网购", "官網", "官网", "online", "web", "e-commerce", "ecommerce"),
    "phone": ("電話", "电话", "電話訂購", "电话订购", "phone", "telesales"),
    "dealer": ("經銷商", "经销商", "代理商", "dealer", "distributor", "reseller"),
}


QUESTIONNAIRE_FIELDS: tuple[Field, ...] = (
    Field(
        "response_id",
        "text",
        True,
        ("問卷編號", "问卷编号", "Response ID", "survey_id", "編號", "编号"),
        description="Questionnaire number, unique per response (business key).",
    ),
    Field(
        "respondent_name",
        "name",
        True,
        ("姓名", "受訪者姓名", "受访者姓名", "Name", "Respondent Name", "respondent"),
        description="Respondent's name, Traditional or Simplified Chinese or Latin.",
    ),
    Field(
        "phone",
        "phone",
        False,
        ("電話", "电话", "手機", "手机", "聯絡電話", "联系电话", "Phone", "Mobile", "Tel"),
    ),
    Field("email", "email", False, ("電子郵件", "电子邮件", "電郵", "邮箱", "Email", "E-mail", "Mail")),
    Field(
        "customer_type",
        "label",
        True,
        ("客戶類型", "客户类型", "客戶類別", "客户类别", "Customer Type", "type"),
        vocabulary=CUSTOMER_TYPES,
    ),
    Field(
        "company",
        "name",
        False,
        ("公司名稱", "公司名称", "公司", "單位", "单位", "Company", "Organisation", "Organization"),
    ),
    Field("industry", "text", False, ("行業", "行业", "產業", "产业", "Industry")),
    Field("region", "text", False, ("地區", "地区", "區域", "区域", "Region", "Area")),
    Field(
        "survey_date", "date", True, ("填寫日期", "填写日期", "調查日期", "调查日期", "Survey Date", "Date")
    ),
    Field(
        "rating_product",
        "int",
        False,
        ("產品評分", "产品评分", "產品滿意度", "产品满意度", "Product Rating"),
        min_value=1,
        max_value=5,
    ),
    Field(
        "rating_service",
        "int",
        False,
        ("服務評分", "服务评分", "服務滿意度", "服务满意度", "Service Rating"),
        min_value=1,
        max_value=5,
    ),
    Field(
        "rating_staff",
        "int",
        False,
        ("人員評分", "人员评分", "員工評分", "员工评分", "Staff Rating"),
        min_value=1,
        max_value=5,
    ),
    Field(
        "rating_brand",
        "int",
        False,
        ("品牌形象評分", "品牌形象评分", "品牌評分", "品牌评分", "Brand Rating", "Brand Image Rating"),
        min_value=1,
        max_value=5,
    ),
    Field(
        "overall_satisfaction",
        "int",
        True,
        ("整體滿意度", "整体满意度", "總體滿意度", "总体满意度", "Overall Satisfaction", "CSAT"),
        min_value=1,
        max_value=5,
    ),
    Field(
        "recommend_score",
        "int",
        False,
        ("推薦意願", "推荐意愿", "推薦分數", "推荐分数", "Likelihood to Recommend", "NPS Score", "recommend"),
        min_value=0,
        max_value=10,
    ),
    Field(
        "has_complained",
        "bool",
        False,
        ("是否投訴", "是否投诉", "曾投訴", "曾投诉", "Has Complained", "Complained"),
        vocabulary=YES_NO,
    ),
    Field(
        "complaint_resolved",
        "bool",
        False,
        ("投訴已解決", "投诉已解决", "問題是否解決", "问题是否解决", "Complaint Resolved", "Resolved"),
        vocabulary=YES_NO,
    ),
    Field(
        "intends_to_repurchase",
        "bool",
        False,
        ("是否再購買", "是否再购买", "再購意願", "再购意愿", "Intends to Repurchase", "Repurchase"),
        vocabulary=YES_NO,
    ),
    Field(
        "leave_reason",
        "label",
        False,
        ("離開原因", "离开原因", "流失原因", "Reason for Leaving", "Churn Reason"),
        vocabulary=LEAVE_REASONS,
    ),
    Field(
        "comment",
        "text",
        False,
        ("意見", "意见", "備註", "备注", "其他意見", "其他意见", "Comment", "Comments", "Remarks"),
    ),
)

REPLY_CARD_FIELDS: tuple[Field, ...] = (
    Field(
        "card_id",
        "text",
        True,
        ("回函編號", "回函编号", "卡號", "卡号", "Card ID", "card_no"),
        description="Reply-card serial number (business key).",
    ),
    Field("member_id", "text", False, ("會員編號", "会员编号", "會員號", "会员号", "Member ID", "member_no")),
    Field("name", "name", True, ("姓名", "客戶姓名", "客户姓名", "Name", "Full Name")),
    Field("phone", "phone", False, ("電話", "电话", "手機", "手机", "Phone", "Mobile", "Tel")),
    Field("email", "email", False, ("電子郵件", "电子邮件", "邮箱", "Email", "E-mail")),
    Field(
        "address",
        "name",
        False,
        ("地址", "通訊地址", "通讯地址", "郵寄地址", "邮寄地址", "Address", "Postal Address"),
    ),
    Field("birth_date", "date", False, ("出生日期", "生日", "Birth Date", "Birthday", "DOB")),
    Field(
        "product_registered",
        "text",
        False,
        ("登記產品", "登记产品", "產品型號", "产品型号", "Product Registered", "Product", "SKU"),
    ),
    Field(
        "purchase_channel",
        "label",
        False,
        ("購買通路", "购买渠道", "購買管道", "购买途径", "Purchase Channel", "Channel"),
        vocabulary=CHANNELS,
    ),
    Field("purchase_date", "date", False, ("購買日期", "购买日期", "Purchase Date")),
    Field("interests", "text", False, ("興趣", "兴趣", "感興趣項目", "感兴趣项目", "Interests")),
    Field(
        "marketing_consent",
        "bool",
        False,
        ("同意行銷", "同意营销", "接收優惠訊息", "接收优惠信息", "Marketing Consent", "Opt In"),
        vocabulary=YES_NO,
    ),
    Field(
        "card_received_date",
        "date",
        True,
        ("收件日期", "收到日期", "回函日期", "Card Received Date", "Received Date"),
    ),
)

SALES_FIELDS: tuple[Field, ...] = (
    Field("order_id", "text", True, ("訂單編號", "订单编号", "單號", "单号", "Order ID", "Order No")),
    Field("line_no", "int", True, ("項次", "项次", "明細序號", "明细序号", "Line No", "Line"), min_value=1),
    Field("order_date", "date", True, ("訂單日期", "订单日期", "銷售日期", "销售日期", "Order Date", "Date")),
    Field(
        "customer_ref",
        "ref",
        True,
        ("客戶", "客户", "客戶代號", "客户代号", "Customer", "Customer Ref"),
        description="Member id, phone number, e-mail or name, whatever the staff typed.",
    ),
    Field("sku", "text", True, ("料號", "料号", "商品編號", "商品编号", "SKU", "Item Code")),
    Field("product_name", "text", False, ("品名", "商品名稱", "商品名称", "Product Name", "Product")),
    Field("category", "text", False, ("類別", "类别", "品類", "品类", "Category")),
    Field("quantity", "int", True, ("數量", "数量", "Qty", "Quantity")),
    Field(
        "unit_price", "decimal", True, ("單價", "单价", "售價", "售价", "Unit Price", "Price"), min_value=0
    ),
    Field("unit_cost", "decimal", False, ("單位成本", "单位成本", "成本", "Unit Cost", "Cost"), min_value=0),
    Field(
        "discount",
        "decimal",
        False,
        ("折扣", "折扣率", "Discount"),
        min_value=0,
        max_value=1,
        description="Discount rate 0-1; '10%' and '0.1' are both accepted.",
    ),
    Field(
        "channel", "label", False, ("通路", "渠道", "銷售通路", "销售渠道", "Channel"), vocabulary=CHANNELS
    ),
    Field(
        "salesperson", "text", False, ("業務員", "业务员", "銷售人員", "销售人员", "Salesperson", "Sales Rep")
    ),
    Field(
        "original_order_id",
        "text",
        False,
        ("原訂單編號", "原订单编号", "退貨原單號", "退货原单号", "Original Order ID", "Return Of"),
    ),
)

FIELDS: dict[str, tuple[Field, ...]] = {
    "questionnaires": QUESTIONNAIRE_FIELDS,
    "reply_cards": REPLY_CARD_FIELDS,
    "sales": SALES_FIELDS,
}

#: Business key per source: a row whose key was already loaded (in this file or before) is
#: quarantined as a duplicate.
BUSINESS_KEYS: dict[str, tuple[str, ...]] = {
    "questionnaires": ("response_id",),
    "reply_cards": ("card_id",),
    "sales": ("order_id", "line_no"),
}

#: Amounts are stored as DECIMAL(precision, scale): the normalisers and the price counts derive their
#: bounds and units from these two numbers.
DECIMAL_PRECISION, DECIMAL_SCALE = 18, 4

_KIND_TYPES = {
    "text": "VARCHAR",
    "name": "VARCHAR",
    "phone": "VARCHAR",
    "email": "VARCHAR",
    "date": "DATE",
    "int": "BIGINT",
    "decimal": f"DECIMAL({DECIMAL_PRECISION}, {DECIMAL_SCALE})",
    "bool": "BOOLEAN",
    "label": "VARCHAR",
    "ref": "VARCHAR",
}


def raw_columns(source: str) -> list[tuple[str, str]]:
    """The columns of ``raw.<source>`` (name, DuckDB type), lineage last."""
    cols: list[tuple[str, str]] = []
    for f in FIELDS[source]:
        cols.append((f.name, _KIND_TYPES[f.kind]))
        if f.kind == "name":
            cols.append((f"{f.name}_norm", "VARCHAR"))
        elif f.kind == "phone":
            cols.append((f"{f.name}_e164", "VARCHAR"))
        elif f.kind == "ref":
            cols.append((f"{f.name}_type", "VARCHAR"))
            cols.append((f"{f.name}_norm", "VARCHAR"))
    return cols + list(LINEAGE_COLUMNS)


def header_lookup(source: str) -> dict[str, str]:
    """Map every accepted header spelling (case-folded, spaces and underscores removed) to its column."""
    lookup: dict[str, str] = {}
    for f in FIELDS[source]:
        for header in f.all_headers():
            lookup[fold_header(header)] = f.name
    return lookup


def fold_header(header: str) -> str:
    """Fold a header for alias lookup: NFKC, case-fold, drop spaces, underscores, hyphens and BOMs."""
    import unicodedata

    text = unicodedata.normalize("NFKC", header).replace("\ufeff", "").casefold()
    return "".join(ch for ch in text if ch not in " _-\t\r\n:：")
