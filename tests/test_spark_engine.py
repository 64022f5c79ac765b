"""The Spark engine's own pieces: settings, raw tables shipped as Parquet, the PII salt as a conf.

The Spark part runs in a subprocess (one JVM and one Derby metastore per process, so it cannot
collide with another test's session); the whole build on Spark is in tests/test_engines.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from crm.engines.spark import SparkSettings

REPO = Path(__file__).resolve().parents[1]


def spark_salt_expression() -> str:
    """The SQL spark__pii_hash uses for the salt (dbt_project/macros/pii.sql)."""
    macros = (REPO / "dbt_project" / "macros" / "pii.sql").read_text(encoding="utf-8")
    body = macros[macros.index("macro spark__pii_hash") :]
    found = re.search(r"\{%- set salt -%\}(.*?)\{%- endset -%\}", body, re.DOTALL)
    assert found, "spark__pii_hash no longer sets `salt`: update this test"
    return " ".join(found.group(1).split())


PROBE = r"""
import json, sys
from pathlib import Path
from crm.engines.spark import SparkSettings, get_session, ship_raw

warehouse, root = Path(sys.argv[1]), Path(sys.argv[2])
settings = SparkSettings(root=root, shuffle_partitions=2)
session = get_session(settings, pii_salt="s4lt")
first = ship_raw(session, warehouse, settings)
import duckdb
with duckdb.connect(str(warehouse)) as con:
    con.execute("insert into raw.reply_cards (card_id) values ('late-card')")
second = ship_raw(session, warehouse, settings)
kind = [r["data_type"] for r in session.sql("describe table extended raw.reply_cards").collect()
        if r["col_name"] == "Type"][0]
exports = sorted(p.name for p in (root / "raw" / "raw" / "reply_cards").iterdir())
salt = sys.argv[3]  # the salt expression of spark__pii_hash, as written in the macro
salted = session.sql(f"select sha2(concat({salt}, 'jane@example.com'), 256) as h").collect()[0]["h"]
session.conf.unset("spark.crm.pii_salt")  # Spark then substitutes ''
try:
    session.sql(f"select {salt} as s").collect()
    missing_salt = "no error"
except Exception as exc:
    missing_salt = str(exc)
from splink.internals.input_column import InputColumn
from crm.identity.backend import SparkBackend
clause = SparkBackend.create(session).db_api.sql_dialect.proportion_sample_sql(
    0.25, [InputColumn("record_key", sqlglot_dialect_str="spark")], seed=20240601)
session.createDataFrame([(f"sales:{i:06d}",) for i in range(5000)], "record_key string") \
    .createOrReplaceTempView("sample_records")
u_sample = sorted(r["record_key"] for r in
                  session.sql(f"select record_key from sample_records where 1 = 1 {clause}").collect())
print(json.dumps({"first": first, "second": second, "kind": kind, "exports": exports,
                  "salted": salted, "missing_salt": missing_salt[:300], "u_sample": u_sample}))
session.stop()
"""


def test_settings_from_env_and_bad_conf(tmp_path: Path) -> None:
    settings = SparkSettings.from_env(
        {"CRM_DATA_DIR": str(tmp_path), "CRM_SPARK_CONF": "spark.sql.ansi.enabled=true, spark.x=1"}
    )
    assert settings.root == (tmp_path / "spark").resolve()
    conf = settings.conf()
    assert conf["spark.sql.ansi.enabled"] == "true"
    assert conf["spark.sql.warehouse.dir"] == str(settings.root / "warehouse")
    assert str(settings.root / "metastore_db") in conf["spark.hadoop.javax.jdo.option.ConnectionURL"]
    assert conf["spark.master"] == "local[2]"
    assert "spark.jars.packages" not in conf  # nothing may be downloaded at run time
    assert Path(conf["spark.jars"]).is_file()  # splink's UDF jar ships in its wheel
    with pytest.raises(ValueError, match=r"spark\.key=value"):
        SparkSettings.from_env({"CRM_DATA_DIR": str(tmp_path), "CRM_SPARK_CONF": "ansi=true"})


@pytest.mark.spark
@pytest.mark.timeout(600)
def test_ship_raw_registers_external_parquet_tables_and_replaces_exports(tmp_path: Path) -> None:
    pytest.importorskip("pyspark", reason="the spark extra is not installed")
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        pytest.skip("Spark needs Java 17")
    from crm.warehouse import ensure_schema

    warehouse = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        ensure_schema(con)
        con.execute("insert into raw.sales (order_id, line_no) values ('o1', 1), ('o1', 2), ('o2', 1)")
        con.execute("insert into raw.reply_cards (card_id, email) values ('c1', ''), ('c2', null)")
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(warehouse), str(tmp_path / "spark"), spark_salt_expression()],
        env={**os.environ, "PYTHONPATH": str(REPO / "dags")},
        capture_output=True,
        text=True,
        check=False,
        timeout=540,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    probe = json.loads(result.stdout.strip().splitlines()[-1])
    assert probe["first"] == {"raw.sales": 3, "raw.questionnaires": 0, "raw.reply_cards": 2}
    assert probe["second"]["raw.reply_cards"] == 3  # the new export is what Spark reads
    assert probe["kind"].strip().upper() == "EXTERNAL"
    assert len(probe["exports"]) == 1 and probe["exports"][0].startswith("export-")  # old one removed
    assert probe["salted"] == hashlib.sha256(b"s4ltjane@example.com").hexdigest()
    assert "no spark.crm.pii_salt" in probe["missing_salt"]
    # splink's u-estimation sample on Spark keeps the records DuckDB keeps (MD5 buckets, not hash()).
    from tests.test_identity_resolution import md5_sample

    keys = [f"sales:{i:06d}" for i in range(5000)]
    assert set(probe["u_sample"]) == md5_sample(keys, 0.25, 20240601)
