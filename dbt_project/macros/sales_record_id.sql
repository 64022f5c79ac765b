{#- The contact-record id of a sales customer reference (source_record_id where source = 'sales'):
    its detected type and normalised key. Identity resolution mints it, the line view joins on it and
    fct_sales finds re-linked references by it, so all three must spell it alike. -#}
{% macro sales_record_id(type_column='customer_ref_type', norm_column='customer_ref_norm') -%}
    {{ return(dbt.concat([type_column, "':'", norm_column])) }}
{%- endmacro %}
