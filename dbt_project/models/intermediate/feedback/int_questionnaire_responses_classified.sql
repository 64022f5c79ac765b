{#- Each questionnaire response with its customer and the survey classifications:
    NPS category from recommend_score (promoter >= var nps_promoter_min, passive >=
    var nps_passive_min, detractor below; NULL when not answered) and CSAT "satisfied"
    (overall_satisfaction >= var csat_satisfied_min). -#}
with

responses as (

    select * from {{ ref('stg_questionnaires__responses') }}

),

identity_links as (

    select * from {{ ref('int_customer_identity_links') }}
    where source = 'questionnaires'

),

classified as (

    select
        responses.*,
        identity_links.customer_id,
        identity_links.match_rule,
        identity_links.match_probability,
        case
            when responses.recommend_score is null then null
            when responses.recommend_score >= {{ var('nps_promoter_min') }} then 'promoter'
            when responses.recommend_score >= {{ var('nps_passive_min') }} then 'passive'
            else 'detractor'
        end as nps_category,
        responses.overall_satisfaction >= {{ var('csat_satisfied_min') }} as is_satisfied

    from responses
    inner join identity_links
        on responses.response_id = identity_links.source_record_id

)

select * from classified
