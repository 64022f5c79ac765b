{#- Retention, churn and the other rates of the monthly marts lie in [0, 1], and retention plus
    churn is 1 whenever customers were active the month before. Returns offending rows. -#}
with

loyalty as (

    select * from {{ ref('loyalty_monthly') }}

),

kpis as (

    select * from {{ ref('customer_kpis') }}

),

cohorts as (

    select * from {{ ref('cohort_retention') }}

),

rates as (

    {%- set loyalty_rates = [
        'retention_rate', 'churn_rate', 'repeat_purchase_rate', 'new_customer_rate', 'csat', 'complaint_rate',
        'resolved_complaint_repurchase_rate', 'unresolved_complaint_repurchase_rate',
    ] %}
    {%- for rate in loyalty_rates %}
    select 'loyalty_monthly' as mart, '{{ rate }}' as rate, month_start, {{ rate }} as value from loyalty
    union all
    {%- endfor %}
    {%- for rate in ['retention_rate', 'churn_rate', 'repeat_purchase_rate', 'new_customer_rate', 'csat'] %}
    select 'customer_kpis', '{{ rate }}', month_start, {{ rate }} from kpis
    union all
    {%- endfor %}
    select 'cohort_retention', 'retention_share', month_start, retention_share from cohorts
    union all
    select 'cohort_retention', 'active_share', month_start, active_share from cohorts

),

out_of_range as (

    select * from rates
    where value < 0 or value > 1

),

not_complementary as (

    select
        'loyalty_monthly' as mart,
        'retention_rate + churn_rate' as rate,
        month_start,
        retention_rate + churn_rate as value

    from loyalty
    where previously_active_customers > 0
        and abs(retention_rate + churn_rate - 1) > 1e-9

)

select * from out_of_range
union all
select * from not_complementary
