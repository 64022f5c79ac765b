"""Serving layer: the marts copied out of the live warehouse for BI tools.

BI tools never open the live DuckDB file (its single-writer lock would block the pipeline). After
each transform the publish DAG exports every mart to Parquet (``parquet_export``), points a
read-only serving DuckDB at those files (``serving_duckdb``), describes them in ``manifest.json``
(``manifest``), optionally copies them into PostgreSQL for a read-only BI role (``postgres``) and
publishes the dbt and Great Expectations documentation (``docs``). ``layout`` names every path.
"""
