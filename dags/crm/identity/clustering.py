"""Connected components over the linking edges (deterministic keys and accepted splink pairs).

splink's implementation is iterative SQL label propagation (each node takes the smallest
representative among its neighbours until nothing changes), so it runs inside the backend's engine
and scales to millions of records on DuckDB and on Spark alike.
"""

from __future__ import annotations

from typing import Any

from splink.clustering import cluster_pairwise_predictions_at_threshold
from splink.internals.splink_dataframe import SplinkDataFrame

from crm.identity.backend import SplinkBackend


def cluster_records(nodes: Any, edges: Any, backend: SplinkBackend) -> SplinkDataFrame:
    """Cluster ``nodes`` (column record_key) over ``edges`` (record_key_l, record_key_r).

    Every edge passed in links: thresholds are applied when the edges are built. Returns one row per
    node: record_key, cluster_key (the smallest record_key of the component).
    """
    db_api = backend.db_api
    node_frame = db_api.register(backend.to_splink_input(nodes), table_name="identity_nodes")
    edge_frame = db_api.register(backend.to_splink_input(edges), table_name="identity_edges")
    clusters = cluster_pairwise_predictions_at_threshold(
        node_frame,
        edge_frame,
        db_api=db_api,
        node_id_column_name="record_key",
        edge_id_column_name_left="record_key_l",
        edge_id_column_name_right="record_key_r",
        threshold_match_probability=None,
    )
    sql = f"select record_key, cluster_id as cluster_key from {clusters.physical_name}"
    return db_api.query_sql(sql, output_type="splink_df")
