{#- int_identity__scored_pairs on targets without dbt Python models (PostgreSQL, Spark): the same
    crm.identity scoring runs as an external step between dbt phases (crm.engines.identity_step,
    driven by crm.engines.build) and writes identity_step.int_identity__scored_pairs; this model
    publishes it under the usual name. On DuckDB the Python model of the same name runs instead
    (dbt_project.yml enables exactly one of the two per target). Grain: one scored record pair. -#}
-- the step reads these models: keep them upstream in dbt's graph
-- depends_on: {{ ref('int_identity__contact_records') }}

with

scored_pairs as (

    select * from {{ source('identity_step', 'int_identity__scored_pairs') }}

),

final as (

    select
        record_key_l,
        record_key_r,
        match_weight,
        match_probability,
        blocking_rule_index,
        mw_name_norm,
        mw_birth_date,
        mw_address_norm,
        mw_company_norm,
        mw_phone_e164,
        mw_email

    from scored_pairs

)

select * from final
