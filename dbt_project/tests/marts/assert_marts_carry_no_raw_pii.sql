{#- Marts never publish raw personal data: no mart column may be named like a raw PII column
    (phone, e-mail, names, id numbers, birth date, address, the typed customer reference), and no
    masked or hashed value may equal a raw phone or e-mail. Returns the offending columns / values. -#}
{%- set forbidden = [
    'phone', 'phone_e164', 'email', 'name', 'name_norm', 'display_name', 'respondent_name',
    'respondent_name_norm', 'member_id', 'id_number', 'birth_date', 'address', 'address_norm',
    'customer_ref', 'customer_ref_norm', 'comment',
] -%}
with

mart_columns as (

    select
        table_name,
        column_name

    from information_schema.columns
    where lower(table_schema) = 'marts'

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

leaked_values as (

    select
        'dim_customers' as mart,
        profiles.customer_id as detail

    from {{ ref('dim_customers') }} as profiles
    inner join raw_contacts
        on raw_contacts.contact in (
            profiles.phone_masked, profiles.email_masked, profiles.phone_hash, profiles.email_hash
        )

)

select * from forbidden_columns
union all
select * from leaked_values
