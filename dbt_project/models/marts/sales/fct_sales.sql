{#- Incremental: a run processes the lines loaded after the latest _loaded_at already in the
    table, the lines of any batch the table does not hold yet (a late batch with an older load
    time; ingestion commits a file's batch at once, so a batch is in the table whole or not at all)
    and the lines of sales references identity resolution linked to another customer since the last
    run (int_customer_identity_links.linked_at later than the latest _computed_at here), and
    replaces them by order_line_id (delete+insert). None of these needs a comparison with the stored
    lines: at 10M lines that join cost more than the rest of an incremental run of this model.
    Raw is append-only, so the result equals a full refresh; if raw rows are ever deleted, run with
    --full-refresh (assert_fct_sales_equals_full_refresh fails until then). -#}
{{
    config(
        materialized='incremental',
        unique_key='order_line_id',
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

order_lines as (

    select * from {{ ref('int_order_lines_joined_to_customers') }}

),

{% if is_incremental() %}
    previous_run as (

        select
            max(_loaded_at) as loaded_at,
            max(_computed_at) as computed_at
        from {{ this }}

    ),

    loaded_batches as (

        select distinct _batch_id
        from {{ this }}

    ),
{% endif %}

lines_to_process as (

    select order_lines.*
    from order_lines
    {% if is_incremental() %}
        cross join previous_run
        left join loaded_batches on order_lines._batch_id = loaded_batches._batch_id
        where
            order_lines._loaded_at > previous_run.loaded_at
            or loaded_batches._batch_id is null
            or order_lines.linked_at > previous_run.computed_at
    {% endif %}

),

final as (

    select
        order_line_id,
        order_id,
        line_no,
        order_date,
        cast({{ dbt.date_trunc('month', 'order_date') }} as date) as order_month,
        customer_id,
        customer_ref_type,
        sku,
        product_name,
        category,
        channel,
        salesperson,
        quantity,
        unit_price,
        unit_cost,
        discount,
        is_return,
        original_order_id,
        gross_amount,
        discount_amount,
        net_amount,
        cost_amount,
        cast(net_amount - cost_amount as {{ type_money() }}) as gross_margin_amount,
        match_rule,
        cast(match_probability as {{ type_ratio() }}) as match_probability,
        _source_file,
        _batch_id,
        _loaded_at,
        -- when the line was (re)written: int_order_lines_aggregated_to_orders re-aggregates the
        -- orders of the lines written since its own last run
        {{ dbt.current_timestamp() }} as _computed_at

    from lines_to_process

)

select * from final
