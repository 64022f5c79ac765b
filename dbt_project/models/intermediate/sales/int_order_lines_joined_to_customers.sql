{#- A view, not a table: its readers (order aggregates, fct_sales, product_performance, tests) use
    few of its 30 columns. At 10M lines writing them all cost 32 s, re-joining in the readers about
    19 s more than reading a table; fct_sales is the materialised line-level table. -#}
{{ config(materialized='view') }}

with

order_lines as (

    select * from {{ ref('stg_sales__order_lines') }}

),

identity_links as (

    select * from {{ ref('int_customer_identity_links') }}
    where source = 'sales'

),

joined as (

    select
        order_lines.*,
        identity_links.customer_id,
        identity_links.match_rule,
        identity_links.match_probability,
        identity_links.linked_at

    from order_lines
    inner join identity_links
        on identity_links.source_record_id
        = {{ sales_record_id('order_lines.customer_ref_type', 'order_lines.customer_ref_norm') }}

)

select * from joined
