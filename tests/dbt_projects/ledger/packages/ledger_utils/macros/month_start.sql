{% macro month_start(column) -%}
    cast(date_trunc('month', {{ column }}) as date)
{%- endmacro %}
