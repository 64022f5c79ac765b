"""dbt-duckdb plugins used by the project's profile (``dbt_project/profiles.yml``)."""
