with

value_tiers as (

    select * from {{ ref('int_customers_value_tiered') }}

),

reference_dates as (

    select * from {{ ref('int_reference_dates_resolved') }}

),

final as (

    select
        value_tiers.customer_id,
        reference_dates.reference_date,
        value_tiers.net_revenue,
        value_tiers.revenue_rank,
        value_tiers.cumulative_revenue_share,
        value_tiers.customer_rank_share,
        value_tiers.value_tier

    from value_tiers
    cross join reference_dates

)

select * from final
