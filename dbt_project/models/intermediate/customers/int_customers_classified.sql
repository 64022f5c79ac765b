{#- Every classification of a customer in one row (as of the reference date): type, lifecycle,
    RFM segment, value tier, loyalty level, latest NPS category and defection reason. Feeds
    dim_customers and the SCD2 snapshot customer_classification_snapshot. -#}
with

customers as (

    select * from {{ ref('int_customers_resolved') }}

),

types as (

    select * from {{ ref('int_customers_typed') }}

),

lifecycles as (

    select * from {{ ref('int_customers_lifecycle_classified') }}

),

rfm as (

    select * from {{ ref('int_customers_rfm_scored') }}

),

value_tiers as (

    select * from {{ ref('int_customers_value_tiered') }}

),

loyalty as (

    select * from {{ ref('int_customers_loyalty_classified') }}

),

defections as (

    select * from {{ ref('int_customers_defection_classified') }}

),

survey_summaries as (

    select * from {{ ref('int_customers_surveys_summarised') }}

),

reference_dates as (

    select * from {{ ref('int_reference_dates_resolved') }}

),

final as (

    select
        customers.customer_id,
        reference_dates.reference_date,
        types.customer_type,
        types.customer_type_source,
        lifecycles.lifecycle_status,
        lifecycles.lifecycle_reason,
        rfm.rfm_cell,
        rfm.rfm_segment,
        value_tiers.value_tier,
        loyalty.loyalty_level,
        survey_summaries.latest_nps_category as nps_category,
        defections.is_churned,
        defections.defection_reason,
        defections.defection_reason_source

    from customers
    cross join reference_dates
    inner join types on customers.customer_id = types.customer_id
    inner join lifecycles on customers.customer_id = lifecycles.customer_id
    inner join value_tiers on customers.customer_id = value_tiers.customer_id
    inner join loyalty on customers.customer_id = loyalty.customer_id
    inner join defections on customers.customer_id = defections.customer_id
    left join rfm on customers.customer_id = rfm.customer_id
    left join survey_summaries on customers.customer_id = survey_summaries.customer_id

)

select * from final
