{#-
    Deterministic evidence: records that share a member id, an E.164 phone or an e-mail address.
    Each group of records sharing a key value is linked as a star (every record to the group's
    earliest record), which connects the group with n - 1 edges instead of n * (n - 1) / 2.
    A key value written on records with more than `identity_shared_key_max_names` distinct names
    (a switchboard number, a shared family mailbox) is not trusted: those records are left to the
    probabilistic step.
-#}
with

records as (

    select * from {{ ref('int_identity__contact_records') }}

),

keyed as (

    select
        record_key,
        record_date,
        name_norm,
        'member_id' as match_rule,
        member_id as key_value
    from records
    where member_id is not null

    union all

    select
        record_key,
        record_date,
        name_norm,
        'phone' as match_rule,
        phone_e164 as key_value
    from records
    where phone_e164 is not null

    union all

    select
        record_key,
        record_date,
        name_norm,
        'email' as match_rule,
        email as key_value
    from records
    where email is not null

),

trusted_keys as (

    select
        match_rule,
        key_value
    from keyed
    group by match_rule, key_value
    having
        count(*) > 1
        and count(distinct name_norm) <= {{ var('identity_shared_key_max_names') }}

),

hubs as (

    select
        keyed.record_key,
        keyed.match_rule,
        first_value(keyed.record_key) over (
            partition by keyed.match_rule, keyed.key_value
            order by keyed.record_date, keyed.record_key
            rows between unbounded preceding and unbounded following
        ) as hub_record_key
    from keyed
    inner join trusted_keys
        on
        keyed.match_rule = trusted_keys.match_rule
        and keyed.key_value = trusted_keys.key_value

)

select
    hub_record_key as record_key_l,
    record_key as record_key_r,
    match_rule,
    cast(1.0 as {{ dbt.type_float() }}) as match_probability
from hubs
where record_key <> hub_record_key
