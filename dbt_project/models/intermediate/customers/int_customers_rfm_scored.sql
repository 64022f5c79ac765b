{#- RFM (Hughes) per customer with any sales line before the reference date: see macro
    rfm_scored_select for scoring, ties and customers without a positive net purchase. -#}
with

purchase_summaries as (

    select * from {{ ref('int_customers_purchases_summarised') }}

),

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

),

rfm_inputs as (

    select
        customer_id,
        reference_date,
        first_purchase_date,
        last_purchase_date,
        recency_days,
        frequency,
        monetary

    from purchase_summaries

),

scored as (

    {{ rfm_scored_select('rfm_inputs', 'segment_map') }}

),

final as (

    select
        customer_id,
        reference_date,
        first_purchase_date,
        last_purchase_date,
        recency_days,
        frequency,
        monetary,
        r_score,
        f_score,
        m_score,
        rfm_cell,
        rfm_segment,
        is_rfm_scored,
        rfm_exclusion_reason

    from scored

)

select * from final
