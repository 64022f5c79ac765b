{#- int_identity__record_clusters on targets without dbt Python models: written by the external
    clustering step (crm.engines.identity_step) to identity_step.int_identity__record_clusters and
    published here under the usual name (see int_identity__scored_pairs.sql in this folder).
    Grain: one row per contact record. -#}
-- the step reads these models: keep them upstream in dbt's graph
-- depends_on: {{ ref('int_identity__contact_records') }}
-- depends_on: {{ ref('int_identity__match_edges') }}

with

record_clusters as (

    select * from {{ source('identity_step', 'int_identity__record_clusters') }}

),

final as (

    select
        record_key,
        cluster_key

    from record_clusters

)

select * from final
