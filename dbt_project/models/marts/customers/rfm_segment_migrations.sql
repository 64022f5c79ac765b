{#- Segment migration between consecutive monthly RFM snapshots: how many customers moved from
    one segment (previous month) to another (this month), including those who stayed. Customers
    appear from the month after their first purchase month (they have no previous snapshot before). -#}
with

snapshots as (

    select * from {{ ref('customer_rfm_monthly') }}

),

segment_pairs as (

    select
        current_snapshot.snapshot_month,
        previous_snapshot.snapshot_month as previous_snapshot_month,
        previous_snapshot.rfm_segment as from_segment,
        current_snapshot.rfm_segment as to_segment,
        current_snapshot.customer_id

    from snapshots as current_snapshot
    inner join snapshots as previous_snapshot
        on current_snapshot.customer_id = previous_snapshot.customer_id
        and previous_snapshot.snapshot_month
        = cast({{ dbt.dateadd('month', -1, 'current_snapshot.snapshot_month') }} as date)

),

counted as (

    select
        snapshot_month,
        previous_snapshot_month,
        from_segment,
        to_segment,
        count(*) as customers

    from segment_pairs
    group by snapshot_month, previous_snapshot_month, from_segment, to_segment

),

final as (

    select
        {{ dbt.concat([
            dbt.cast('snapshot_month', api.Column.translate_type('string')),
            "'|'", 'from_segment', "'|'", 'to_segment',
        ]) }} as migration_key,
        snapshot_month,
        previous_snapshot_month,
        from_segment,
        to_segment,
        from_segment = to_segment as is_same_segment,
        cast(customers as {{ dbt.type_bigint() }}) as customers,
        {{ safe_divide(
            'customers',
            'sum(customers) over (partition by snapshot_month, from_segment)',
        ) }} as share_of_from_segment

    from counted

)

select * from final
