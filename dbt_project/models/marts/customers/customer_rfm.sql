with

rfm as (

    select * from {{ ref('int_customers_rfm_scored') }}

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

    from rfm

)

select * from final
