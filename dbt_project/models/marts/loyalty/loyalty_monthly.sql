{#- Monthly loyalty figures (grain: one row per calendar month up to the reference month).
    Activity follows int_customer_months_spined: active = bought within the trailing
    var activity_window_months months. Rates (NULL when the denominator is 0):
      retention_rate          retained / active last month
      churn_rate              churned / active last month (retention + churn = 1)
      repeat_purchase_rate    buyers this month who had bought in an earlier month / buyers this month
      new_customer_rate       new / active this month (new-customer acquisition rate)
      new_customer_revenue_share  net revenue of new customers / net revenue of the month
      nps                     100 x (promoters - detractors) / answers to the recommend question
      csat                    satisfied answers (overall_satisfaction >= var csat_satisfied_min) / responses
      complaint_rate          responses reporting a complaint / responses
      resolved_complaint_repurchase_rate / unresolved_...: of the complaints answered this month
                              (resolved / not resolved), the share whose customer placed a purchase
                              order within var complaint_repurchase_window_days days after the
                              survey (and before the reference date: recent months are incomplete). -#}
with

months as (

    select * from {{ ref('int_calendar_months_generated') }}

),

customer_months as (

    select * from {{ ref('int_customer_months_spined') }}

),

orders as (

    select * from {{ ref('int_order_lines_aggregated_to_orders') }}

),

responses as (

    select * from {{ ref('int_questionnaire_responses_classified') }}

),

reference_dates as (

    select * from {{ ref('int_reference_dates_resolved') }}

),

activity as (

    select
        month_start,
        sum(case when is_active then 1 else 0 end) as active_customers,
        sum(case when was_active_previous_month then 1 else 0 end) as previously_active_customers,
        sum(case when activity_status = 'new' then 1 else 0 end) as new_customers,
        sum(case when activity_status = 'retained' then 1 else 0 end) as retained_customers,
        sum(case when activity_status = 'reactivated' then 1 else 0 end) as reactivated_customers,
        sum(case when activity_status = 'churned' then 1 else 0 end) as churned_customers,
        sum(case when purchase_orders > 0 then 1 else 0 end) as buying_customers,
        sum(case when purchase_orders > 0 and activity_status <> 'new' then 1 else 0 end) as repeat_buyers,
        sum(case when activity_status = 'new' then net_revenue else 0 end) as new_customer_revenue

    from customer_months
    group by month_start

),

monthly_revenue as (

    select
        orders.order_month as month_start,
        sum(orders.net_amount) as net_revenue

    from orders
    cross join reference_dates
    where orders.order_date < reference_dates.reference_date
    group by orders.order_month

),

complaint_follow_ups as (

    select
        responses.response_id,
        cast({{ dbt.date_trunc('month', 'responses.survey_date') }} as date) as month_start,
        coalesce(responses.complaint_resolved, false) as is_resolved,
        max(case when orders.order_key is not null then 1 else 0 end) as has_repurchased

    from responses
    cross join reference_dates
    left join orders
        on responses.customer_id = orders.customer_id
        and orders.is_purchase
        and responses.survey_date < orders.order_date
        and orders.order_date
        <= {{ dbt.dateadd('day', var('complaint_repurchase_window_days'), 'responses.survey_date') }}
        and reference_dates.reference_date > orders.order_date
    where responses.has_complained
    group by responses.response_id, responses.survey_date, responses.complaint_resolved

),

complaints as (

    select
        month_start,
        sum(case when is_resolved then 1 else 0 end) as resolved_complaints,
        sum(case when is_resolved then has_repurchased else 0 end) as resolved_complaints_repurchased,
        sum(case when not is_resolved then 1 else 0 end) as unresolved_complaints,
        sum(case when not is_resolved then has_repurchased else 0 end) as unresolved_complaints_repurchased

    from complaint_follow_ups
    group by month_start

),

surveys as (

    select
        cast({{ dbt.date_trunc('month', 'responses.survey_date') }} as date) as month_start,
        count(*) as responses,
        sum(case when responses.nps_category = 'promoter' then 1 else 0 end) as promoters,
        sum(case when responses.nps_category = 'passive' then 1 else 0 end) as passives,
        sum(case when responses.nps_category = 'detractor' then 1 else 0 end) as detractors,
        sum(case when responses.is_satisfied then 1 else 0 end) as satisfied_responses,
        avg(cast(responses.overall_satisfaction as {{ type_ratio() }})) as average_satisfaction,
        sum(case when responses.has_complained then 1 else 0 end) as complaints

    from responses
    cross join reference_dates
    where responses.survey_date < reference_dates.reference_date
    group by cast({{ dbt.date_trunc('month', 'responses.survey_date') }} as date)

),

final as (

    select
        months.month_start,
        months.is_reference_month as is_partial_month,

        -- customers
        cast(coalesce(activity.active_customers, 0) as {{ dbt.type_bigint() }}) as active_customers,
        cast(coalesce(activity.previously_active_customers, 0) as {{ dbt.type_bigint() }})
            as previously_active_customers,
        cast(coalesce(activity.new_customers, 0) as {{ dbt.type_bigint() }}) as new_customers,
        cast(coalesce(activity.retained_customers, 0) as {{ dbt.type_bigint() }}) as retained_customers,
        cast(coalesce(activity.reactivated_customers, 0) as {{ dbt.type_bigint() }}) as reactivated_customers,
        cast(coalesce(activity.churned_customers, 0) as {{ dbt.type_bigint() }}) as churned_customers,
        cast(coalesce(activity.buying_customers, 0) as {{ dbt.type_bigint() }}) as buying_customers,
        {{ safe_divide('activity.retained_customers', 'activity.previously_active_customers') }} as retention_rate,
        {{ safe_divide('activity.churned_customers', 'activity.previously_active_customers') }} as churn_rate,
        {{ safe_divide('activity.repeat_buyers', 'activity.buying_customers') }} as repeat_purchase_rate,
        {{ safe_divide('activity.new_customers', 'activity.active_customers') }} as new_customer_rate,

        -- revenue
        cast(coalesce(monthly_revenue.net_revenue, 0) as {{ type_money_sum() }}) as net_revenue,
        cast(coalesce(activity.new_customer_revenue, 0) as {{ type_money_sum() }}) as new_customer_revenue,
        {{ safe_divide('activity.new_customer_revenue', 'monthly_revenue.net_revenue') }}
            as new_customer_revenue_share,

        -- voice of the customer
        cast(coalesce(surveys.responses, 0) as {{ dbt.type_bigint() }}) as survey_responses,
        100 * {{ safe_divide(
            'surveys.promoters - surveys.detractors',
            'surveys.promoters + surveys.passives + surveys.detractors',
        ) }} as nps,
        {{ safe_divide('surveys.satisfied_responses', 'surveys.responses') }} as csat,
        surveys.average_satisfaction,
        cast(coalesce(surveys.complaints, 0) as {{ dbt.type_bigint() }}) as complaints,
        {{ safe_divide('surveys.complaints', 'surveys.responses') }} as complaint_rate,
        cast(coalesce(complaints.resolved_complaints, 0) as {{ dbt.type_bigint() }}) as resolved_complaints,
        {{ safe_divide('complaints.resolved_complaints_repurchased', 'complaints.resolved_complaints') }}
            as resolved_complaint_repurchase_rate,
        cast(coalesce(complaints.unresolved_complaints, 0) as {{ dbt.type_bigint() }}) as unresolved_complaints,
        {{ safe_divide('complaints.unresolved_complaints_repurchased', 'complaints.unresolved_complaints') }}
            as unresolved_complaint_repurchase_rate

    from months
    left join activity on months.month_start = activity.month_start
    left join monthly_revenue on months.month_start = monthly_revenue.month_start
    left join surveys on months.month_start = surveys.month_start
    left join complaints on months.month_start = complaints.month_start

)

select * from final
