{#- PII handling for marts: a salted hash key (stable join/match key that cannot be read back)
    and masked display forms. Marts never carry raw phone, e-mail, id number, birth date or address.

    The salt comes from the environment variable CRM_PII_SALT. The default below exists only so a
    laptop can build without secrets; production and CI must set CRM_PII_SALT (hashes made with the
    dev salt are not comparable to production ones). On DuckDB the salt is passed as a session
    variable (see duckdb__pii_hash), on PostgreSQL as a session setting (postgres__pii_hash) and on
    Spark as a session conf (spark__pii_hash); other adapters render it as a literal, so their
    target/ artefacts must be treated as secret until they get the same treatment. -#}

{% macro pii_salt() -%}
    {%- set salt = env_var('CRM_PII_SALT', 'crm-dev-only-insecure-salt') -%}
    {{- return(salt) -}}
{%- endmacro %}

{#- Hex SHA-256 of salt || value; NULL stays NULL. -#}
{% macro pii_hash(value) -%}
    {{ return(adapter.dispatch('pii_hash')(value)) }}
{%- endmacro %}

{% macro default__pii_hash(value) -%}
    case when {{ value }} is not null then {{ dbt.hash(dbt.concat([dbt.string_literal(pii_salt()), value])) }} end
{%- endmacro %}

{#- DuckDB reads the salt from a session variable set by the profile's plugin
    (crm.dbt_plugins.pii_salt), so it never appears in compiled SQL, dbt artefacts or docs. A
    missing variable makes every hash NULL, which the marts' not_null tests turn into a failure. -#}
{% macro duckdb__pii_hash(value) -%}
    case when {{ value }} is not null then sha256({{ dbt.concat(["getvariable('crm_pii_salt')", value]) }}) end
{%- endmacro %}

{#- PostgreSQL reads the salt from the session setting crm.pii_salt, which crm.engines.build passes
    to every connection through PGOPTIONS ("-c crm.pii_salt=..."), so it stays out of compiled SQL
    and target/ as on DuckDB. A session without the setting fails with "unrecognized configuration
    parameter" instead of hashing with a wrong salt. -#}
{% macro postgres__pii_hash(value) -%}
    case when {{ value }} is not null
        then encode(sha256(convert_to({{ dbt.concat(["current_setting('crm.pii_salt')", value]) }}, 'UTF8')), 'hex') end
{%- endmacro %}

{#- Spark reads the salt from the session conf spark.crm.pii_salt (crm.engines.spark sets it on the
    session; on a cluster: the cluster's Spark conf, e.g. from a secret scope), substituted at parse
    time for ${spark.crm.pii_salt}, so it stays out of compiled SQL and target/. Without the conf
    Spark substitutes '' (or leaves the reference as written when substitution is off); both make
    the statement fail in raise_error instead of hashing with a wrong salt. -#}
{% macro spark__pii_hash(value) -%}
    {%- set salt -%}
        coalesce(
            nullif(nullif('${spark.crm.pii_salt}', ''), concat('$', '{spark.crm.pii_salt}')),
            raise_error('the Spark session has no spark.crm.pii_salt (see crm.engines.spark)')
        )
    {%- endset -%}
    case when {{ value }} is not null then sha2({{ dbt.concat([salt, value]) }}, 256) end
{%- endmacro %}

{#- 陳大明 -> 陳*明, 王明 -> 王*, Li -> L*: first character, stars, last character (3+ characters). -#}
{% macro mask_name(value) -%}
    case
        when {{ value }} is null then null
        when {{ dbt.length(value) }} <= 2 then {{ dbt.concat(["left(" ~ value ~ ", 1)", "'*'"]) }}
        else {{ dbt.concat([
            "left(" ~ value ~ ", 1)",
            "repeat('*', " ~ dbt.length(value) ~ " - 2)",
            dbt.right(value, 1),
        ]) }}
    end
{%- endmacro %}

{#- +886912345678 -> +88********78: the first three and last two characters of the E.164 form. -#}
{% macro mask_phone(value) -%}
    case
        when {{ value }} is null then null
        when {{ dbt.length(value) }} <= 5 then repeat('*', {{ dbt.length(value) }})
        else {{ dbt.concat([
            "left(" ~ value ~ ", 3)",
            "repeat('*', " ~ dbt.length(value) ~ " - 5)",
            dbt.right(value, 2),
        ]) }}
    end
{%- endmacro %}

{#- jane.doe@example.com -> j***@example.com: first character of the local part and the domain. -#}
{% macro mask_email(value) -%}
    case
        when {{ value }} is null then null
        else {{ dbt.concat([
            "left(" ~ value ~ ", 1)",
            "'***@'",
            dbt.split_part(value, "'@'", 2),
        ]) }}
    end
{%- endmacro %}
