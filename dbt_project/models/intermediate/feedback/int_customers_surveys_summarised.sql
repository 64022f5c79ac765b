{#- Questionnaire history per customer as of the reference date (surveys dated before it):
    the latest answers (latest survey_date, then latest load, then response_id), counts of
    responses and complaints, and the latest stated reason for leaving. -#}
with

responses as (

    select * from {{ ref('int_questionnaire_responses_classified') }}

),

reference_dates as (

    select * from {{ ref('int_reference_dates_resolved') }}

),

responses_before_reference as (

    select
        responses.*,
        row_number() over (
            partition by responses.customer_id
            order by
                responses.survey_date desc nulls last,
                responses._loaded_at desc nulls last,
                responses.response_id desc nulls last
        ) as recency_rank,
        row_number() over (
            partition by responses.customer_id, responses.leave_reason is null
            order by
                responses.survey_date desc nulls last,
                responses._loaded_at desc nulls last,
                responses.response_id desc nulls last
        ) as reason_recency_rank

    from responses
    cross join reference_dates
    where responses.survey_date < reference_dates.reference_date

),

counts as (

    select
        customer_id,
        count(*) as survey_count,
        min(survey_date) as first_survey_date,
        max(survey_date) as last_survey_date,
        sum(case when has_complained then 1 else 0 end) as complaint_count,
        sum(case when has_complained and complaint_resolved then 1 else 0 end) as resolved_complaint_count,
        sum(case when has_complained and not coalesce(complaint_resolved, false) then 1 else 0 end)
            as unresolved_complaint_count,
        avg(cast(overall_satisfaction as {{ type_ratio() }})) as average_satisfaction

    from responses_before_reference
    group by customer_id

),

latest as (

    select * from responses_before_reference
    where recency_rank = 1

),

latest_stated_reason as (

    select
        customer_id,
        leave_reason

    from responses_before_reference
    where leave_reason is not null and reason_recency_rank = 1

),

final as (

    select
        counts.customer_id,
        cast(counts.survey_count as {{ dbt.type_bigint() }}) as survey_count,
        counts.first_survey_date,
        counts.last_survey_date,
        cast(counts.complaint_count as {{ dbt.type_bigint() }}) as complaint_count,
        cast(counts.resolved_complaint_count as {{ dbt.type_bigint() }}) as resolved_complaint_count,
        cast(counts.unresolved_complaint_count as {{ dbt.type_bigint() }}) as unresolved_complaint_count,
        counts.average_satisfaction,
        latest.response_id as latest_response_id,
        latest.overall_satisfaction as latest_overall_satisfaction,
        latest.recommend_score as latest_recommend_score,
        latest.nps_category as latest_nps_category,
        latest.is_satisfied as latest_is_satisfied,
        latest.intends_to_repurchase as latest_intends_to_repurchase,
        latest.rating_product as latest_rating_product,
        latest.rating_service as latest_rating_service,
        latest.rating_staff as latest_rating_staff,
        latest_stated_reason.leave_reason as latest_stated_leave_reason

    from counts
    inner join latest
        on counts.customer_id = latest.customer_id
    left join latest_stated_reason
        on counts.customer_id = latest_stated_reason.customer_id

)

select * from final
