with

responses as (

    select * from {{ ref('int_questionnaire_responses_classified') }}

),

final as (

    select
        response_id,
        customer_id,
        survey_date,
        cast({{ dbt.date_trunc('month', 'survey_date') }} as date) as survey_month,
        customer_type,
        industry,
        region,
        rating_product,
        rating_service,
        rating_staff,
        rating_brand,
        overall_satisfaction,
        is_satisfied,
        recommend_score,
        nps_category,
        has_complained,
        complaint_resolved,
        intends_to_repurchase,
        leave_reason,
        match_rule,
        cast(match_probability as {{ type_ratio() }}) as match_probability,
        _source_file,
        _batch_id,
        _loaded_at

    from responses

)

select * from final
