{#-
    on-run-end: when DuckDB ran out of memory in a node, say which nodes and what to change. DuckDB's
    own "Out of Memory Error" names the limit it hit but not where the limit comes from: the
    profile's memory_limit, from CRM_DUCKDB_MEMORY_LIMIT (default 1800MB, docs/benchmarks.md). Two
    nodes running side by side share the limit, so fewer threads can help too. Logs only.
-#}
{% macro out_of_memory_hint(results) %}
    {%- if execute and target.type == 'duckdb' -%}
        {%- set starved = [] -%}
        {%- for result in results -%}
            {%- if result.status in ('error', 'fail') and 'Out of Memory Error' in (result.message or '') -%}
                {%- do starved.append(result.node.name) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- if starved -%}
            {%- do log(
                "DuckDB ran out of memory in " ~ (starved | join(', '))
                ~ " under the profile's memory_limit of " ~ env_var('CRM_DUCKDB_MEMORY_LIMIT', '1800MB')
                ~ ": raise CRM_DUCKDB_MEMORY_LIMIT (e.g. CRM_DUCKDB_MEMORY_LIMIT=4GB), or run fewer"
                ~ " nodes side by side (CRM_DBT_THREADS=1). See README, Configuration.",
                info=True
            ) -%}
        {%- endif -%}
    {%- endif -%}
{% endmacro %}
