"""Airflow glue: assets, task callables, callbacks. Imported by the thin DAG files in ``dags/``.

Nothing here imports Airflow's heavy machinery, GX, dbt or pandas at module level: DAG parsing
must stay fast, so the work happens inside the task callables.
"""
