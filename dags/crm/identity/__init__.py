"""Identity resolution: one customer across questionnaires, reply cards and sales.

The dbt models in ``dbt_project/models/intermediate/identity/`` do the set-based work
(contact records, deterministic key edges, stable customer ids, survivorship); the two Python
models call this package for what needs splink:

- :mod:`crm.identity.config` reads the thresholds and training knobs (dbt vars via model config);
- :mod:`crm.identity.model_spec` defines the splink model (comparisons, blocking rules, priors);
- :mod:`crm.identity.backend` is the one place that picks the splink backend for the dbt session;
- :mod:`crm.identity.scoring` trains the model and scores candidate pairs;
- :mod:`crm.identity.clustering` turns edges into connected components.
"""
