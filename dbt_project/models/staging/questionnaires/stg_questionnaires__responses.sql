with

source as (

    select * from {{ source('raw', 'questionnaires') }}

),

renamed as (

    select
        -- ids
        response_id,

        -- respondent
        respondent_name,
        respondent_name_norm,
        phone,
        phone_e164,
        email,
        customer_type,
        company,
        company_norm,
        industry,
        region,

        -- answers
        survey_date,
        rating_product,
        rating_service,
        rating_staff,
        rating_brand,
        overall_satisfaction,
        recommend_score,
        has_complained,
        complaint_resolved,
        intends_to_repurchase,
        leave_reason,
        comment,

        -- lineage
        _source_file,
        _source_row,
        _file_sha256,
        _batch_id,
        _loaded_at

    from source

)

select * from renamed
