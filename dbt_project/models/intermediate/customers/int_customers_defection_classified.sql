{#- Defection reason for churned customers who answered a questionnaire.
    Churned = bought before but not within the active window (lifecycle_reason lapsed_purchase; the
    churn definition is var active_window_days). The reason is, in order:
    1. stated:   the latest non-empty leave_reason on any of their questionnaires;
    2. inferred: otherwise the lowest of the latest product / service / staff ratings when it is at
                 or below var defection_low_rating_max (product -> product, service or staff ->
                 service; on a tie product wins, then service);
    3. unstated: otherwise 'other'.
    Customers who are not churned, or churned without any questionnaire, get NULL. -#}
with

lifecycles as (

    select * from {{ ref('int_customers_lifecycle_classified') }}

),

survey_summaries as (

    select * from {{ ref('int_customers_surveys_summarised') }}

),

churned as (

    select
        lifecycles.customer_id,
        survey_summaries.latest_stated_leave_reason,
        survey_summaries.latest_rating_product,
        survey_summaries.latest_rating_service,
        survey_summaries.latest_rating_staff,
        lifecycles.lifecycle_reason = 'lapsed_purchase' as is_churned,
        survey_summaries.customer_id is not null as has_survey,
        least(
            coalesce(survey_summaries.latest_rating_product, 99),
            coalesce(survey_summaries.latest_rating_service, 99),
            coalesce(survey_summaries.latest_rating_staff, 99)
        ) as lowest_rating

    from lifecycles
    left join survey_summaries
        on lifecycles.customer_id = survey_summaries.customer_id

),

classified as (

    select
        customer_id,
        is_churned,
        case
            when not (is_churned and has_survey) then null
            when latest_stated_leave_reason is not null then 'stated'
            when lowest_rating <= {{ var('defection_low_rating_max') }} then 'inferred_from_ratings'
            else 'unstated'
        end as defection_reason_source,
        case
            when not (is_churned and has_survey) then null
            when latest_stated_leave_reason is not null then latest_stated_leave_reason
            when lowest_rating > {{ var('defection_low_rating_max') }} then 'other'
            when latest_rating_product = lowest_rating then 'product'
            else 'service'
        end as defection_reason

    from churned

)

select * from classified
