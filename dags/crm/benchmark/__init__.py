"""Benchmark harness (issue 6): pipeline stages against a pandas peer and a DuckDB lower bound.

``python scripts/benchmark.py`` generates sales at several sizes, times ingestion, ``dbt build``, an
incremental run and the whole Airflow pipeline (each repeated; wall, CPU and peak RSS from the OS),
runs the two references on the same files, checks that all three compute the same RFM table and
writes ``docs/benchmarks.md``. See ``docs/benchmarks.md`` for what is measured and compared.
"""
