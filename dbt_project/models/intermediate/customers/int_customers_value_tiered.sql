{#- Pareto value tiers by cumulative share of net revenue (as of the reference date).
    Customers are ranked by net revenue, highest first. A customer is high_value when the customers
    ranked above them hold less than var('value_tier_high_cutoff') of total revenue (so the customer
    who crosses the line is included and the top customer is always high_value), regular below
    var('value_tier_regular_cutoff'), otherwise small. Customers with equal revenue are peers: the
    share "above" them excludes all of them, so ties always land in the same tier. Customers
    without positive net revenue (never bought, or returns cancel purchases) are no_revenue. -#}
with

customers as (

    select * from {{ ref('int_customers_resolved') }}

),

purchase_summaries as (

    select * from {{ ref('int_customers_purchases_summarised') }}

),

revenues as (

    select
        customers.customer_id,
        cast(coalesce(purchase_summaries.monetary, 0) as {{ type_money_sum() }}) as net_revenue

    from customers
    left join purchase_summaries
        on customers.customer_id = purchase_summaries.customer_id

),

revenue_customers as (

    select * from revenues
    where net_revenue > 0

),

ranked as (

    select
        customer_id,
        net_revenue,
        cast(rank() over (order by net_revenue desc) as {{ dbt.type_bigint() }}) as revenue_rank,  -- int on Spark
        count(*) over () as revenue_customer_count,
        sum(net_revenue) over () as total_revenue,
        -- default frame (range ... current row) includes tied peers
        sum(net_revenue) over (order by net_revenue desc) as revenue_through_peers,
        sum(net_revenue) over (partition by net_revenue) as peer_revenue

    from revenue_customers

),

shares as (

    select
        customer_id,
        revenue_rank,
        {{ safe_divide('revenue_through_peers - peer_revenue', 'total_revenue') }} as revenue_share_above,
        {{ safe_divide('revenue_through_peers', 'total_revenue') }} as cumulative_revenue_share,
        {{ safe_divide('revenue_rank', 'revenue_customer_count') }} as customer_rank_share

    from ranked

),

final as (

    select
        revenues.customer_id,
        revenues.net_revenue,
        shares.revenue_rank,
        shares.cumulative_revenue_share,
        shares.customer_rank_share,
        case
            when shares.customer_id is null then 'no_revenue'
            when shares.revenue_share_above < {{ var('value_tier_high_cutoff') }} then 'high_value'
            when shares.revenue_share_above < {{ var('value_tier_regular_cutoff') }} then 'regular'
            else 'small'
        end as value_tier

    from revenues
    left join shares
        on revenues.customer_id = shares.customer_id

)

select * from final
