{#- Purchase activity per customer per month, from the customer's first purchase month to the
    reference month (dense: months without purchases included). Grain: customer_id + month_start.

    Activity definition (var activity_window_months = W): a customer is active in a month when
    their latest purchase order is at most W - 1 months earlier (that month included).
    activity_status:
      new          first purchase month;
      retained     active now and active the month before;
      reactivated  active now, not active the month before, bought before;
      churned      not active now, active the month before (the month the window runs out);
      inactive     neither active now nor the month before.

    Computed sparse, then filled in: the running windows run over the customer-months with orders
    only, and each month without orders takes the state of the latest month with orders before it
    (at 10M lines: a window over 2.8M rows instead of 9.4M, which DuckDB must hold in memory).

    Incremental (custom strategy replace_from on month_start, macros/replace_from.sql): a run finds
    the earliest month whose rows can differ from the table - a customer-month whose orders changed
    (new or late orders, orders re-linked to another customer, orders now on or after the reference
    date) or the reference month moving - and recomputes every customer's rows from that month on,
    carrying each customer's running state (last purchase, cumulative orders and revenue, activity)
    from the row of the month before, which no change can have touched. A run without changes
    writes nothing. Equals a full refresh (tests/test_dbt_project.py); changing
    activity_window_months needs --full-refresh. On Spark (no DELETE on Parquet) it is a table. -#}
{{
    config(
        materialized='table' if target.type == 'spark' else 'incremental',
        incremental_strategy='replace_from',
        unique_key='month_start',
        on_schema_change='fail',
    )
}}
with

orders as (

    select * from {{ ref('int_order_lines_aggregated_to_orders') }}

),

months as (

    select * from {{ ref('int_calendar_months_generated') }}

),

reference_dates as (

    select * from {{ ref('int_reference_dates_resolved') }}

),

monthly_orders as (

    select
        orders.customer_id,
        orders.order_month as month_start,
        sum(case when orders.is_purchase then 1 else 0 end) as purchase_orders,
        max(case when orders.is_purchase then orders.order_date end) as last_purchase_date_in_month,
        sum(orders.net_amount) as net_revenue

    from orders
    cross join reference_dates
    where orders.order_date < reference_dates.reference_date
    group by orders.customer_id, orders.order_month

),

first_purchase_months as (

    select
        customer_id,
        min(month_start) as first_purchase_month

    from monthly_orders
    where purchase_orders > 0
    group by customer_id

),

{% if is_incremental() %}

{#- Customer-months carrying orders, now and in the table: a month whose orders add up to nothing
    (no purchase, no revenue) is the same as a month without orders, and months before the first
    purchase month are not in the spine. Each CTE reads {{ this }} on its own, for only the columns
    and rows it needs (DuckDB materialises a CTE that is read twice, here 10M rows at 10M lines). -#}
    order_cells as (

        select
            monthly_orders.customer_id,
            monthly_orders.month_start,
            monthly_orders.purchase_orders,
            monthly_orders.last_purchase_date_in_month,
            -- as the spine stores it
            coalesce(monthly_orders.net_revenue, 0) as net_revenue

        from monthly_orders
        inner join first_purchase_months
            on monthly_orders.customer_id = first_purchase_months.customer_id
            and monthly_orders.month_start >= first_purchase_months.first_purchase_month
        where
            monthly_orders.purchase_orders <> 0
            or monthly_orders.last_purchase_date_in_month is not null
            or coalesce(monthly_orders.net_revenue, 0) <> 0

    ),

    previous_order_cells as (

        select
            customer_id,
            month_start,
            purchase_orders,
            last_purchase_date_in_month,
            net_revenue

        from {{ this }}
        where
            purchase_orders <> 0
            or last_purchase_date_in_month is not null
            or net_revenue <> 0

    ),

    previous_reference as (

        select max(month_start) as reference_month
        from {{ this }}
        where is_reference_month

    ),

    changed_months as (

        select coalesce(order_cells.month_start, previous_order_cells.month_start) as month_start

        from order_cells
        full outer join previous_order_cells
            on order_cells.customer_id = previous_order_cells.customer_id
            and order_cells.month_start = previous_order_cells.month_start
        where
            order_cells.customer_id is null
            or previous_order_cells.customer_id is null
            or order_cells.purchase_orders <> previous_order_cells.purchase_orders
            or order_cells.last_purchase_date_in_month is distinct from previous_order_cells.last_purchase_date_in_month
            or order_cells.net_revenue <> previous_order_cells.net_revenue

        union all

        -- the reference month moved: its old and new rows change (flag, months added or removed)
        select
            case
                when previous_reference.reference_month < reference_dates.reference_month
                    then previous_reference.reference_month
                else reference_dates.reference_month
            end as month_start

        from reference_dates
        cross join previous_reference
        where previous_reference.reference_month <> reference_dates.reference_month

    ),

    recompute_from as (

        select min(month_start) as month_start from changed_months

    ),

    -- each customer's row of the month before the recomputed range: its running state carries on
    previous_state as (

        select
            previous.customer_id,
            previous.month_start,
            previous.last_purchase_month,
            previous.last_purchase_date,
            previous.cumulative_purchase_orders,
            previous.cumulative_net_revenue

        from {{ this }} as previous
        inner join recompute_from
            on previous.month_start = cast({{ dbt.dateadd('month', -1, 'recompute_from.month_start') }} as date)

    ),
{% endif %}

-- the months to (re)compute: all of them, or (incremental) those from the earliest change on
months_in_range as (

    select *
    from months
    {% if is_incremental() %}
        where month_start >= (select recompute_from.month_start from recompute_from)
    {% endif %}

),

{# Sparse first: the running state (last purchase, cumulative orders and revenue) changes only in
    the months with orders, so the window runs over those customer-months (about 30% of the dense
    rows at 10M lines) and the months between are filled in afterwards. Each row's state_* columns
    are what it adds to the running state. -#}
order_months as (

    select
        first_purchase_months.customer_id,
        first_purchase_months.first_purchase_month,
        monthly_orders.month_start,
        cast(coalesce(monthly_orders.purchase_orders, 0) as {{ dbt.type_bigint() }}) as purchase_orders,
        monthly_orders.last_purchase_date_in_month,
        cast(coalesce(monthly_orders.net_revenue, 0) as {{ type_money_sum() }}) as net_revenue,
        case when monthly_orders.purchase_orders > 0 then monthly_orders.month_start end as state_purchase_month,
        monthly_orders.last_purchase_date_in_month as state_purchase_date,
        cast(coalesce(monthly_orders.purchase_orders, 0) as {{ dbt.type_bigint() }}) as state_purchase_orders,
        cast(coalesce(monthly_orders.net_revenue, 0) as {{ type_money_sum() }}) as state_net_revenue

    from first_purchase_months
    inner join monthly_orders
        on first_purchase_months.customer_id = monthly_orders.customer_id
        and first_purchase_months.first_purchase_month <= monthly_orders.month_start
    {% if is_incremental() %}
        where monthly_orders.month_start >= (select recompute_from.month_start from recompute_from)
    {% endif %}

),

{% if is_incremental() %}
    {#- Incremental: the stored row of the month before the recomputed range stands for all earlier
        months (its cumulative values and latest purchase), dated that month, which is not itself
        rewritten. -#}
    carried_states as (

        select
            previous_state.customer_id,
            first_purchase_months.first_purchase_month,
            previous_state.month_start,
            cast(0 as {{ dbt.type_bigint() }}) as purchase_orders,
            cast(null as date) as last_purchase_date_in_month,
            cast(0 as {{ type_money_sum() }}) as net_revenue,
            previous_state.last_purchase_month as state_purchase_month,
            previous_state.last_purchase_date as state_purchase_date,
            cast(previous_state.cumulative_purchase_orders as {{ dbt.type_bigint() }}) as state_purchase_orders,
            cast(previous_state.cumulative_net_revenue as {{ type_money_sum() }}) as state_net_revenue

        from previous_state
        inner join first_purchase_months
            on previous_state.customer_id = first_purchase_months.customer_id

    ),
{% endif %}

activity_months as (

    select * from order_months
    {% if is_incremental() %}
        union all
        select * from carried_states
    {% endif %}

),

with_window as (

    select
        *,
        max(state_purchase_month) over (
            partition by customer_id
            order by month_start
            rows between unbounded preceding and current row
        ) as last_purchase_month,
        max(state_purchase_date) over (
            partition by customer_id
            order by month_start
            rows between unbounded preceding and current row
        ) as last_purchase_date,
        sum(state_purchase_orders) over (
            partition by customer_id
            order by month_start
            rows between unbounded preceding and current row
        ) as cumulative_purchase_orders,
        sum(state_net_revenue) over (
            partition by customer_id
            order by month_start
            rows between unbounded preceding and current row
        ) as cumulative_net_revenue,
        -- the latest purchase month before this row's month (is_active of the month before)
        max(state_purchase_month) over (
            partition by customer_id
            order by month_start
            rows between unbounded preceding and 1 preceding
        ) as previous_row_last_purchase_month,
        lead(month_start) over (
            partition by customer_id
            order by month_start
        ) as next_month_with_orders

    from activity_months

),

{# Dense: each row stands for its own month and the months up to the next one with orders (the
    last one up to the reference month). A filled-in month has no orders, the row's running state,
    and the row's latest purchase month as of the month before. A carried state's month lies before
    months_in_range, so it only fills. The far-future end keeps the join a plain range join (an
    `or ... is null` there makes DuckDB plan a nested loop). -#}
spined as (

    select
        with_window.customer_id,
        with_window.first_purchase_month,
        months.month_start,
        months.is_reference_month,
        case
            when months.month_start = with_window.month_start then with_window.purchase_orders
            else cast(0 as {{ dbt.type_bigint() }})
        end as purchase_orders,
        case
            when months.month_start = with_window.month_start then with_window.last_purchase_date_in_month
        end as last_purchase_date_in_month,
        case
            when months.month_start = with_window.month_start then with_window.net_revenue
            else cast(0 as {{ type_money_sum() }})
        end as net_revenue,
        with_window.last_purchase_month,
        with_window.last_purchase_date,
        with_window.cumulative_purchase_orders,
        with_window.cumulative_net_revenue,
        case
            when months.month_start = with_window.month_start then with_window.previous_row_last_purchase_month
            else with_window.last_purchase_month
        end as previous_last_purchase_month

    from with_window
    inner join months_in_range as months
        on with_window.month_start <= months.month_start
        and coalesce(with_window.next_month_with_orders, cast('9999-12-01' as date)) > months.month_start

),

with_activity as (

    select
        *,
        {{ dbt.datediff('last_purchase_month', 'month_start', 'month') }} < {{ var('activity_window_months') }}
            as is_active,
        -- is_active of the month before (the spine is dense: the row before, or the stored row
        -- before the recomputed range); false in the customer's first month, which has no such row
        coalesce(
            {{ dbt.datediff('previous_last_purchase_month', 'month_start', 'month') }} - 1
            < {{ var('activity_window_months') }},
            false
        ) as was_active_previous_month

    from spined

),

final as (

    select
        customer_id,
        month_start,
        first_purchase_month,
        -- bigint everywhere (PostgreSQL's month difference is a double precision)
        cast({{ dbt.datediff('first_purchase_month', 'month_start', 'month') }} as {{ dbt.type_bigint() }})
            as months_since_first_purchase,
        is_reference_month,
        purchase_orders,
        last_purchase_date_in_month,
        net_revenue,
        last_purchase_month,
        last_purchase_date,
        cast(cumulative_purchase_orders as {{ dbt.type_bigint() }}) as cumulative_purchase_orders,
        cast(cumulative_net_revenue as {{ type_money_sum() }}) as cumulative_net_revenue,
        is_active,
        was_active_previous_month,
        case
            when month_start = first_purchase_month then 'new'
            when is_active and was_active_previous_month then 'retained'
            when is_active then 'reactivated'
            when was_active_previous_month then 'churned'
            else 'inactive'
        end as activity_status,
        -- when the row was (re)computed: customer_rfm_monthly rescores the months rewritten since its last run
        {{ dbt.current_timestamp() }} as _computed_at

    from with_activity

)

select * from final
