{#- Monthly RFM history: each customer scored as of the end of every month since their first
    purchase (as_of_date = the first day of the next month, or the reference date for the reference
    month), with the same rules as customer_rfm (macro rfm_scored_select), quintiles computed
    within each month. Net revenue before a customer's first purchase month (returns only) is not
    counted.

    Incremental (custom strategy replace_from on snapshot_month, macros/replace_from.sql): a run
    rescores every month from the earliest month the spine rewrote since this table's last run
    (int_customer_months_spined._computed_at) or, when the reference date moved, from the old or new
    reference month, whichever is earlier. Quintiles are per month, so whole months are rescored.
    A run without changes writes nothing. Equals a full refresh (tests/test_dbt_project.py);
    changing the rfm_segment_map seed needs --full-refresh. On Spark (no DELETE on Parquet) it is a
    table. -#}
{{
    config(
        materialized='table' if target.type == 'spark' else 'incremental',
        incremental_strategy='replace_from',
        unique_key='snapshot_month',
        on_schema_change='fail',
    )
}}
with

customer_months as (

    select * from {{ ref('int_customer_months_spined') }}

),

segment_map as (

    select * from {{ ref('rfm_segment_map') }}

),

reference_dates as (

    select * from {{ ref('int_reference_dates_resolved') }}

),

{% if is_incremental() %}

{#- Each CTE reads its table on its own, for the few columns it needs (a CTE read twice is
    materialised in full by DuckDB). -#}
    previous_run as (

        select
            max(_computed_at) as computed_at,
            max(snapshot_month) as snapshot_month,
            max(as_of_date) as as_of_date

        from {{ this }}

    ),

    spine_rewrites as (

        select
            month_start,
            _computed_at

        from {{ ref('int_customer_months_spined') }}

    ),

    rescored_months as (

        select min(spine_rewrites.month_start) as month_start
        from spine_rewrites
        cross join previous_run
        where
            spine_rewrites._computed_at > previous_run.computed_at
            or previous_run.computed_at is null

        union all

        -- the reference date moved (within its month or not): the old and new reference months change
        select
            case
                when previous_reference.snapshot_month < reference_dates.reference_month
                    then previous_reference.snapshot_month
                else reference_dates.reference_month
            end as month_start

        from reference_dates
        cross join previous_run as previous_reference
        where previous_reference.as_of_date <> reference_dates.reference_date

    ),

    rescore_from as (

        select min(month_start) as month_start from rescored_months

    ),
{% endif %}

rfm_inputs as (

    select
        customer_months.customer_id,
        customer_months.month_start as snapshot_month,
        case
            when customer_months.is_reference_month then reference_dates.reference_date
            else cast({{ dbt.dateadd('month', 1, 'customer_months.month_start') }} as date)
        end as as_of_date,
        customer_months.last_purchase_date,
        customer_months.cumulative_purchase_orders as frequency,
        customer_months.cumulative_net_revenue as monetary

    from customer_months
    cross join reference_dates
    {%- if is_incremental() %}
        inner join rescore_from
            on customer_months.month_start >= rescore_from.month_start
    {%- endif %}

),

rfm_inputs_with_recency as (

    select
        *,
        cast({{ dbt.datediff('last_purchase_date', 'as_of_date', 'day') }} as {{ dbt.type_bigint() }}) as recency_days

    from rfm_inputs

),

scored as (

    {{ rfm_scored_select('rfm_inputs_with_recency', 'segment_map', partition_by='snapshot_month') }}

),

final as (

    select
        {{ dbt.concat(['customer_id', "'|'", dbt.cast('snapshot_month', api.Column.translate_type('string'))]) }}
            as customer_month_key,
        customer_id,
        snapshot_month,
        as_of_date,
        recency_days,
        frequency,
        monetary,
        r_score,
        f_score,
        m_score,
        rfm_cell,
        -- the contract's text (the seed's column is a varchar on PostgreSQL, which an incremental
        -- run would report as a schema change)
        cast(rfm_segment as {{ api.Column.translate_type('string') }}) as rfm_segment,
        is_rfm_scored,
        -- when the row was (re)scored
        {{ dbt.current_timestamp() }} as _computed_at

    from scored

)

select * from final
