{#- Every resolved customer appears exactly once in dim_customers and customer_value_tiers, with
    exactly one value tier and one lifecycle status, and both marts agree on the tier. Returns the
    offending customers. -#}
with

customers as (

    select customer_id from {{ ref('int_customers_resolved') }}

),

profiles as (

    select
        customer_id,
        count(*) as profile_rows,
        count(distinct lifecycle_status) as lifecycle_statuses,
        count(distinct value_tier) as value_tiers,
        max(value_tier) as value_tier

    from {{ ref('dim_customers') }}
    group by customer_id

),

tiers as (

    select
        customer_id,
        count(*) as tier_rows,
        max(value_tier) as value_tier

    from {{ ref('customer_value_tiers') }}
    group by customer_id

),

checked as (

    select
        coalesce(customers.customer_id, profiles.customer_id, tiers.customer_id) as customer_id,
        profiles.profile_rows,
        profiles.lifecycle_statuses,
        profiles.value_tiers,
        tiers.tier_rows,
        profiles.value_tier as profile_value_tier,
        tiers.value_tier as tier_value_tier

    from customers
    full outer join profiles
        on customers.customer_id = profiles.customer_id
    full outer join tiers
        on coalesce(customers.customer_id, profiles.customer_id) = tiers.customer_id

)

select * from checked
where
    customer_id not in (select customer_id from customers)
    or coalesce(profile_rows, 0) <> 1
    or coalesce(tier_rows, 0) <> 1
    or coalesce(lifecycle_statuses, 0) <> 1
    or coalesce(value_tiers, 0) <> 1
    or profile_value_tier <> tier_value_tier
