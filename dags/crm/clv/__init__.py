"""Predictive customer lifetime value: BG/NBD (purchase counts) and Gamma-Gamma (spend) with pymc-marketing.

Modules: ``summary`` loads dbt's int_customer_clv_summary, ``fitting`` fits both models by maximum
likelihood, ``prediction`` scores customers, ``tiers`` ranks them, ``store`` writes marts.customer_clv
and marts.clv_model_runs, ``run`` is the pipeline step (``crm.clv.run.run_clv``). See docs/clv.md.

Nothing is imported here: PyMC takes seconds to import, and Airflow parses DAG files often.
"""
