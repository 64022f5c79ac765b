{#- Segment migration between consecutive monthly RFM snapshots: how many customers moved from
    one segment (previous month) to another (this month), including those who stayed. Customers
    appear from the month after their first purchase month (they have no previous snapshot before).

    Incremental (custom strategy replace_from on snapshot_month, macros/replace_from.sql): a month's
    counts depend on that month's and the month before's snapshots only, so a run recounts every
    month from the earliest month customer_rfm_monthly rewrote since this table's last run
    (customer_rfm_monthly._computed_at), reading the month before it for the previous segments. A
    run without rewritten months writes nothing; months the monthly history deleted (the reference
    date moved back) go with the recount from its new reference month. Equals a full refresh
    (tests/test_dbt_project.py). On Spark (no DELETE on Parquet) it is a table. -#}
{{
    config(
        materialized='table' if target.type == 'spark' else 'incremental',
        incremental_strategy='replace_from',
        unique_key='snapshot_month',
        on_schema_change='fail',
    )
}}
with

{% if is_incremental() %}
    previous_run as (

        select max(_computed_at) as computed_at
        from {{ this }}

    ),

    recount_from as (

        select min(rewritten.snapshot_month) as snapshot_month
        from {{ ref('customer_rfm_monthly') }} as rewritten
        cross join previous_run
        where
            rewritten._computed_at > previous_run.computed_at
            or previous_run.computed_at is null

    ),
{% endif %}

snapshots as (

    select
        snapshots.customer_id,
        snapshots.snapshot_month,
        snapshots.rfm_segment
    from {{ ref('customer_rfm_monthly') }} as snapshots
    {% if is_incremental() -%}
        -- recounted months and the month before the first of them (its segments are the "from")
        cross join recount_from
        where
            snapshots.snapshot_month
            >= cast({{ dbt.dateadd('month', -1, 'recount_from.snapshot_month') }} as date)
    {%- endif %}

),

sequenced as (

    -- each snapshot with the customer's snapshot before it: one partitioned sort of the snapshots
    -- instead of a self-join, which held all 9.4M of them in a hash table at 10M lines and was the
    -- full build's peak memory (docs/benchmarks.md)
    select
        customer_id,
        snapshot_month,
        rfm_segment as to_segment,
        lag(snapshot_month) over (partition by customer_id order by snapshot_month) as previous_snapshot_month,
        lag(rfm_segment) over (partition by customer_id order by snapshot_month) as from_segment

    from snapshots

),

segment_pairs as (

    -- kept when the snapshot before is of the month before
    select
        sequenced.snapshot_month,
        sequenced.previous_snapshot_month,
        sequenced.from_segment,
        sequenced.to_segment,
        sequenced.customer_id

    from sequenced
    {% if is_incremental() -%}
        -- recount_from is read in the is_incremental() branch of snapshots above
        cross join recount_from  -- noqa: ST11
    {%- endif %}
    where
        sequenced.previous_snapshot_month
        = cast({{ dbt.dateadd('month', -1, 'sequenced.snapshot_month') }} as date)
        {%- if is_incremental() %}
            and sequenced.snapshot_month >= recount_from.snapshot_month
        {%- endif %}

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
        ) }} as share_of_from_segment,
        -- when the month was (re)counted: the next incremental run's watermark on customer_rfm_monthly
        {{ dbt.current_timestamp() }} as _computed_at

    from counted

)

select * from final
