{#- The CLV step writes marts.customer_clv after dbt has run, so on a new warehouse the source does
    not exist yet: then this view is an empty relation with the same columns. -#}
{%- set scores = load_relation(source('clv', 'customer_clv')) -%}

with

{% if scores is not none -%}
    source as (

        select * from {{ source('clv', 'customer_clv') }}

    ),
{%- else -%}
    source as (

        select
            cast(null as {{ dbt.type_string() }}) as customer_id,
            cast(null as {{ type_ratio() }}) as probability_alive,
            cast(null as {{ type_ratio() }}) as clv_12m,
            cast(null as {{ dbt.type_string() }}) as clv_tier,
            cast(null as date) as calibration_end_date
        where 1 = 0

    ),
{%- endif %}

renamed as (

    select
        customer_id,
        cast(probability_alive as {{ type_ratio() }}) as probability_alive,
        cast(clv_12m as {{ type_ratio() }}) as predicted_clv_12m,
        clv_tier,
        calibration_end_date as clv_calibration_end_date

    from source

)

select * from renamed
