{#- Monthly RFM history: each customer scored as of the end of every month since their first
    purchase (as_of_date = the first day of the next month, or the reference date for the reference
    month), with the same rules as customer_rfm (macro rfm_scored_select), quintiles computed
    within each month. Net revenue before a customer's first purchase month (returns only) is not
    counted. -#}
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
        rfm_segment,
        is_rfm_scored

    from scored

)

select * from final
