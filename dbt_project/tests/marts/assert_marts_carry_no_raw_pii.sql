{#- Marts never publish raw personal data: no mart column may be named like a raw PII column
    (phone, e-mail, names, id numbers, birth date, address, the typed customer reference), and no
    masked or hashed value may equal a raw phone or e-mail. Returns the offending columns / values.
    Portable SQL (catalog columns via catalog_columns_sql, equi-joins): DuckDB, PostgreSQL, Spark. -#}
{%- set forbidden = [
    'phone', 'phone_e164', 'email', 'name', 'name_norm', 'display_name', 'respondent_name',
    'respondent_name_norm', 'member_id', 'id_number', 'birth_date', 'address', 'address_norm',
    'customer_ref', 'customer_ref_norm', 'comment',
] -%}
with

mart_columns as (

    {{ catalog_columns_sql('marts') }}

),

forbidden_columns as (

    select
        table_name as mart,
        column_name as detail

    from mart_columns
    where lower(column_name) in ({% for column in forbidden %}'{{ column }}'{{ ', ' if not loop.last }}{% endfor %})

),

raw_contacts as (

    select phone_e164 as contact from {{ ref('int_customers_resolved') }} where phone_e164 is not null
    union all
    select email from {{ ref('int_customers_resolved') }} where email is not null

),

published_values as (

    -- one row per published masked / hashed value, so the check below is an equi-join (a hash
    -- join) instead of an `in (...)` over four columns, which scanned every pair (599 s at 1M lines)
    {%- for column in ['phone_masked', 'email_masked', 'phone_hash', 'email_hash'] %}
    select customer_id, {{ column }} as published_value from {{ ref('dim_customers') }}
    where {{ column }} is not null
    {{- '\n    union all' if not loop.last }}
    {%- endfor %}

),

leaked_values as (

    select distinct
        'dim_customers' as mart,
        published_values.customer_id as detail

    from published_values
    inner join raw_contacts
        on published_values.published_value = raw_contacts.contact

)

select * from forbidden_columns
union all
select * from leaked_values
