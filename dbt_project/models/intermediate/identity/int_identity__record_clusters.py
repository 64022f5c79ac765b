"""Connected components of the contact records over int_identity__match_edges.

One row per contact record with cluster_key, the smallest record_key of its component (an internal
grouping key; the stable customer_id is assigned in int_customer_identity_links).
"""

from crm.identity.backend import backend_for
from crm.identity.clustering import cluster_records


def model(dbt, session):
    dbt.config(materialized="table")
    backend = backend_for(session)
    nodes = backend.select(dbt.ref("int_identity__contact_records"), columns=("record_key",))
    edges = backend.select(dbt.ref("int_identity__match_edges"), columns=("record_key_l", "record_key_r"))
    return backend.to_model_output(cluster_records(nodes, edges, backend))
