"""Personal data stays out of the marts, marketing consent is honoured, no secret is in the repository,
and landing file names never reach SQL or a shell unescaped.

The marts come from a real ingest + ``dbt build`` of a generated sample (the session fixture
``built_sample`` of ``test_faults.py``, built once for both modules).
"""

from __future__ import annotations

import ast
import hashlib
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests import test_faults
from tests.conftest import REPO_ROOT
from tests.test_faults import CONSENT_CASES, BuiltSample

#: The session fixture of test_faults.py: one generated sample, ingested and built, for both modules.
built_sample = test_faults.built_sample

# --- (a) no personal data in the marts ------------------------------------------------------------

_EDGE = r"(?<![0-9A-Za-z.])"
_END = r"(?![0-9A-Za-z.])"
PII_PATTERNS: dict[str, re.Pattern[str]] = {
    "e-mail": re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"),
    "E.164 phone": re.compile(_EDGE + r"\+\d{8,15}" + _END),
    "Taiwan mobile": re.compile(_EDGE + r"09\d{2}[- ]?\d{3}[- ]?\d{3}" + _END),
    "Taiwan landline": re.compile(_EDGE + r"0[2-8]\d?[- ]?\d{3,4}[- ]?\d{4}" + _END),
    "mainland mobile": re.compile(_EDGE + r"1[3-9]\d[- ]?\d{4}[- ]?\d{4}" + _END),
    "Taiwan national id": re.compile(_EDGE + r"[A-Z][12]\d{8}" + _END),
    "mainland resident id": re.compile(_EDGE + r"\d{17}[\dXx]" + _END),
}
#: Masked display forms the marts may carry: at most the first and last characters in clear.
MASKED_PHONE = re.compile(r"^\+?\d{0,4}\*{3,}\d{0,4}$")


#: Column types whose text a pattern can meaningfully match (digits of a double are not a phone).
TEXT_TYPES = re.compile(r"^(VARCHAR|JSON|VARCHAR\[\]|STRUCT.*|MAP.*)$")


def _mart_cells(
    con: duckdb.DuckDBPyConnection, schema: str = "marts"
) -> dict[tuple[str, str, str], set[str]]:
    """Every distinct non-null value of every mart column as text, keyed by (table, column, type)."""
    cells: dict[tuple[str, str, str], set[str]] = {}
    columns = con.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = ? order by table_name, ordinal_position",
        [schema],
    ).fetchall()
    for table, column, data_type in columns:
        rows = con.execute(
            f'select distinct cast("{column}" as varchar) from {schema}."{table}" '
            f'where "{column}" is not null'
        ).fetchall()
        cells[(table, column, data_type)] = {r[0] for r in rows}
    return cells


def _raw_personal_values(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Personal values as they arrived (and as normalised) in raw: names, phones, e-mails, addresses,
    birth dates; sales customer references that are phones, e-mails or names."""
    queries = {
        "name": [
            "select respondent_name from raw.questionnaires",
            "select name from raw.reply_cards",
            "select customer_ref from raw.sales where customer_ref_type = 'name'",
        ],
        "phone": [
            "select phone from raw.questionnaires union select phone_e164 from raw.questionnaires",
            "select phone from raw.reply_cards union select phone_e164 from raw.reply_cards",
            "select customer_ref from raw.sales where customer_ref_type = 'phone'",
            "select customer_ref_norm from raw.sales where customer_ref_type = 'phone'",
        ],
        "email": [
            "select email from raw.questionnaires",
            "select email from raw.reply_cards",
            "select customer_ref_norm from raw.sales where customer_ref_type = 'email'",
        ],
        "address": ["select address from raw.reply_cards"],
        "birth date": ["select cast(birth_date as varchar) from raw.reply_cards"],
    }
    values: dict[str, set[str]] = {}
    for kind, sqls in queries.items():
        found = {r[0] for sql in sqls for r in con.execute(sql).fetchall() if r[0]}
        values[kind] = {v for v in found if len(v) >= 2}
    return values


def _leaks(cells: dict[tuple[str, str, str], set[str]], personal: dict[str, set[str]]) -> list[str]:
    leaks: list[str] = []
    for (table, column, data_type), values in cells.items():
        patterns = PII_PATTERNS if TEXT_TYPES.match(data_type) else {}
        for value in values:
            for label, pattern in patterns.items():
                if (match := pattern.search(value)) and not MASKED_PHONE.match(value):
                    leaks.append(f"{table}.{column}: {label} {match.group()!r}")
            for kind, raw_values in personal.items():
                if value in raw_values:
                    leaks.append(f"{table}.{column}: raw {kind} {value!r}")
    return sorted(set(leaks))


def test_marts_carry_no_personal_data(built_sample: BuiltSample) -> None:
    with duckdb.connect(str(built_sample.warehouse), read_only=True) as con:
        cells = _mart_cells(con)
        personal = _raw_personal_values(con)
    assert len(cells) > 50
    assert all(len(values) >= 20 for values in personal.values()), {k: len(v) for k, v in personal.items()}
    leaks = _leaks(cells, personal)
    assert not leaks, "\n".join(leaks[:50])


def test_published_parquet_and_serving_database_carry_no_personal_data(
    built_sample: BuiltSample, tmp_path: Path
) -> None:
    """What BI tools read: the Parquet publication and the serving DuckDB file of crm.publish."""
    from crm.publish.parquet_export import export_marts
    from crm.publish.serving_duckdb import build_serving_database

    exported = export_marts(built_sample.warehouse, tmp_path / "published")
    serving = build_serving_database(tmp_path / "published")
    with duckdb.connect(str(built_sample.warehouse), read_only=True) as con:
        personal = _raw_personal_values(con)
        mart_count = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'marts'"
        ).fetchone()[0]
    with duckdb.connect(str(serving), read_only=True) as con:
        cells = _mart_cells(con, "main")
    assert len(exported) == mart_count and len({table for table, _, _ in cells}) == mart_count
    leaks = _leaks(cells, personal)
    assert not leaks, "\n".join(leaks[:50])


def test_masked_and_hashed_forms_are_what_the_marts_show(built_sample: BuiltSample) -> None:
    """The identity columns of dim_customers are salted hashes and masks, never the clear value."""
    with duckdb.connect(str(built_sample.warehouse), read_only=True) as con:
        rows = con.execute(
            "select phone_hash, email_hash, display_name_masked, phone_masked, email_masked "
            "from marts.dim_customers where phone_hash is not null and email_hash is not null limit 200"
        ).fetchall()
    assert rows
    for phone_hash, email_hash, name, phone, email in rows:
        assert re.fullmatch(r"[0-9a-f]{32,64}", phone_hash) and re.fullmatch(r"[0-9a-f]{32,64}", email_hash)
        assert "*" in phone and "*" in email, (phone, email)
        assert name is None or "*" in name or len(name) <= 1, name


def test_hashes_are_salted_with_the_configured_salt_not_a_default(built_sample: BuiltSample) -> None:
    """The salt is configuration (CRM_PII_SALT): a phone's hash is sha256(salt || E.164) with the
    configured salt, never with the repository's development fallback."""
    phone = "+886987000222"  # consent case M99990002 (0987000222)
    with duckdb.connect(str(built_sample.warehouse), read_only=True) as con:
        hashes = {r[0] for r in con.execute("select phone_hash from marts.dim_customers").fetchall()}
    configured = test_faults.pipeline_env(built_sample.data_dir)["CRM_PII_SALT"]
    assert hashlib.sha256((configured + phone).encode()).hexdigest() in hashes
    assert hashlib.sha256(("crm-dev-only-insecure-salt" + phone).encode()).hexdigest() not in hashes


# --- (b) marketing consent ------------------------------------------------------------------------


def test_marketing_contactable_only_with_explicit_consent_and_the_latest_answer_wins(
    built_sample: BuiltSample,
) -> None:
    with duckdb.connect(str(built_sample.warehouse), read_only=True) as con:
        found = {}
        for member_id in CONSENT_CASES:
            row = con.execute(
                """
                select d.marketing_consent, d.marketing_contactable
                from intermediate.int_customer_identity_links l
                join raw.reply_cards c on l.source = 'reply_cards' and l.source_record_id = c.card_id
                join marts.dim_customers d on d.customer_id = l.customer_id
                where c.member_id = ?
                group by all
                """,
                [member_id],
            ).fetchall()
            assert len(row) == 1, f"{member_id}: the cards of one person must resolve to one customer: {row}"
            found[member_id] = tuple(bool(v) for v in row[0])
        flags = con.execute(
            "select count(*) filter (marketing_contactable and not coalesce(marketing_consent, false)), "
            "count(*) filter (marketing_contactable) from marts.dim_customers"
        ).fetchone()
    assert found == {member_id: case[4] for member_id, case in CONSENT_CASES.items()}
    assert flags[0] == 0 and flags[1] > 0, "contactable only ever with explicit consent"


# --- (c) no secret in the repository ---------------------------------------------------------------

SECRET_PATTERNS: dict[str, re.Pattern[str]] = {
    "private key": re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    "AWS access key id": re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])"),
    "AWS secret key": re.compile(r"(?i)aws_secret_access_key\s*[:=]\s*['\"]?[A-Za-z0-9/+=]{40}"),
    "GitHub token": re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    "Slack token": re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}"),
    "Google API key": re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    "URL with a password": re.compile(r"[a-z+]+://[^\s:/@'\"]+:(?!\$\{|\{\{|\*)[^\s:/@'\"]{3,}@"),
    # key = 'literal' in code (a name or ${VAR} / {{ env_var(..) }} reference is fine)
    "quoted secret literal": re.compile(
        r"(?i)\b[\w-]*(?:password|passwd|secret|token|api_key|apikey|salt)[\"']?\s*[:=]\s*"
        r"[\"'](?!\$\{|\{\{|<|\s*[\"'])[^\"'\s]{6,}[\"']"
    ),
    # KEY=value in env, ini and YAML files (empty values and ${VAR} references are fine)
    "secret setting": re.compile(
        r"(?im)^[ \t]*[\w.-]*(?:password|passwd|secret|token|api_key|salt)[\w.-]*[ \t]*[:=][ \t]*"
        r"(?![\"']?\$\{|[\"']?\{\{|[ \t]*$|[ \t]*#)[^\s#]{4,}"
    ),
}
#: Values that say they are not a secret (test fixtures, documentation examples).
PLACEHOLDER_VALUE = re.compile(r"(?i)test|example|dummy|placeholder|changeme|insecure")
#: Settings that name where a secret lives, not the secret.
REFERENCE_KEY = re.compile(r"(?i)_(?:file|path|dir|env|var)\s*[:=]")
SETTING_FILES = (".env", ".ini", ".cfg", ".yml", ".yaml", ".toml", ".conf", ".properties")


def _tracked_files() -> list[Path]:
    listing = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True
    ).stdout.decode()
    return [REPO_ROOT / name for name in listing.split("\0") if name]


def scan_for_secrets(path: Path, text: str) -> list[str]:
    findings = []
    relative = path.relative_to(REPO_ROOT).as_posix()
    for label, pattern in SECRET_PATTERNS.items():
        if (
            label == "secret setting"
            and not path.name.endswith(SETTING_FILES)
            and path.name != ".env.example"
        ):
            continue
        for match in pattern.finditer(text):
            if PLACEHOLDER_VALUE.search(match.group()) or REFERENCE_KEY.search(match.group()):
                continue
            line = text.count("\n", 0, match.start()) + 1
            findings.append(f"{relative}:{line}: {label}: {match.group()[:60]!r}")
    return findings


def test_no_secret_in_the_tracked_tree() -> None:
    files = _tracked_files()
    assert len(files) > 100
    findings = []
    for path in files:
        if not path.is_file() or path.suffix in {".png", ".jpg", ".xlsx", ".parquet", ".duckdb", ".gz"}:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        if path.relative_to(REPO_ROOT).as_posix() == "tests/test_pii_and_secrets.py":
            continue  # the patterns themselves
        findings += scan_for_secrets(path, text)
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize(
    "text",
    [
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk=\n",
        "key = 'AKIAIOSFODNN7EXAMPLX'",
        'conn = "postgresql://airflow:hunter22@db:5432/airflow"',
        'DB_PASSWORD = "correct-horse-battery"',
        "token: ghp_" + "a" * 36,
    ],
)
def test_the_secret_scan_catches_planted_secrets(text: str) -> None:
    assert scan_for_secrets(REPO_ROOT / "planted.py", text)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("publish.py", "connect(password=reader_password)"),
        ("docker-compose.yml", "POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:?see .env.example}"),
        ("docker-compose.yml", "SIMPLE_AUTH_MANAGER_PASSWORDS_FILE: /opt/airflow/passwords.json"),
        ("settings.py", "url = 'postgresql://${USER}:${PASSWORD}@db/x'"),
        (".env.example", "CRM_PII_SALT=\nPOSTGRES_PASSWORD=  # generate with openssl rand -hex 32"),
        ("test_x.py", 'SALT = "test-salt-for-this-test"'),
    ],
)
def test_the_secret_scan_lets_references_and_placeholders_pass(name: str, text: str) -> None:
    assert not scan_for_secrets(REPO_ROOT / name, text)


# --- (d) landing file names never reach SQL or a shell unescaped; CSV exports ----------------------

INGEST_DIR = REPO_ROOT / "dags" / "crm" / "ingest"
#: Names an f-string SQL statement in the ingestion may interpolate: all come from the contract
#: (source names, column lists, business keys) or are module constants, never from a file.
#: Contract identifiers and module constants (never input): DuckDB cannot bind SET values or LIMITs.
SQL_INTERPOLATION_ALLOWED = {"source", "select", "join", "CHECKPOINT_THRESHOLD"}


def _sql_calls(tree: ast.AST) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"execute", "executemany", "sql"}
    ]


def test_ingestion_sql_interpolates_only_contract_names() -> None:
    """File names, paths and values are bound parameters; only contract identifiers are formatted in."""
    checked = 0
    for path in sorted(INGEST_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _sql_calls(tree):
            statement = call.args[0] if call.args else None
            if isinstance(statement, ast.JoinedStr):
                checked += 1
                names = {
                    n.id
                    for value in statement.values
                    if isinstance(value, ast.FormattedValue)
                    for n in ast.walk(value.value)
                    if isinstance(n, ast.Name)
                }
                assert names <= SQL_INTERPOLATION_ALLOWED, f"{path.name}:{call.lineno} formats {names}"
    assert checked >= 4


def test_no_shell_is_ever_spawned_by_the_pipeline_code() -> None:
    offenders = []
    for path in sorted((REPO_ROOT / "dags").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                func = ast.unparse(node.func)
                if func in {"os.system", "os.popen", "subprocess.getoutput", "subprocess.getstatusoutput"}:
                    offenders.append(f"{path}:{node.lineno}: {func}")
                for keyword in node.keywords:
                    if keyword.arg == "shell" and not (
                        isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                    ):
                        offenders.append(f"{path}:{node.lineno}: shell=...")
    assert not offenders, offenders


def test_the_only_csv_the_project_writes_is_the_transient_postgres_copy_feed() -> None:
    """No CSV export reaches a user, so there is nothing for a spreadsheet to evaluate. The CSV the
    project writes only feeds PostgreSQL COPY, which never evaluates formulas: publish/postgres.py
    writes a file that is deleted after the load, engines/pg_copy.py streams in-memory batches into
    COPY FROM STDIN (and reads COPY TO STDOUT back). Any new CSV writer fails this test: it must
    neutralise formula prefixes (= + - @)."""
    writers = []
    for path in sorted((REPO_ROOT / "dags").rglob("*.py")):
        if path.is_relative_to(REPO_ROOT / "dags" / "crm" / "sample_data"):
            continue  # writes synthetic *input* exports into landing/, not exports of warehouse data
        text = path.read_text(encoding="utf-8")
        for pattern in (
            r"format\s+csv",
            r"\.to_csv\(",
            r"csv\.writer\(",
            r"csv\.DictWriter\(",
            r"write_csv\(",
        ):
            writers += [f"{path.relative_to(REPO_ROOT)}:{pattern}" for _ in re.finditer(pattern, text)]
    assert writers == [
        r"dags/crm/engines/pg_copy.py:format\s+csv",
        r"dags/crm/engines/pg_copy.py:format\s+csv",
        r"dags/crm/engines/pg_copy.py:write_csv\(",
        r"dags/crm/publish/postgres.py:format\s+csv",
        r"dags/crm/publish/postgres.py:format\s+csv",
    ], writers
    streamed = (REPO_ROOT / "dags" / "crm" / "engines" / "pg_copy.py").read_text(encoding="utf-8")
    assert "sink = io.BytesIO()" in streamed and "from stdin" in streamed, "pg_copy streams, no file"
    source = (REPO_ROOT / "dags" / "crm" / "publish" / "postgres.py").read_text(encoding="utf-8")
    assert "csv_path.unlink(" in source, "the COPY feed is removed after the load"
