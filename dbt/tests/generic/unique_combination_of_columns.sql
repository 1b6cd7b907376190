{% test unique_combination_of_columns(model, combination_of_columns, quote_columns=false) %}
{#- A key of several columns: no two rows share all of them. Named and called as dbt_utils' test, so a
    project that adds dbt_utils keeps its yml. An incremental build checks only the rows it
    rewrote when the combination holds the column it recomputes (gold/changed_rows.py). -#}
{%- set columns = [] -%}
{%- for column in combination_of_columns -%}
    {%- do columns.append(adapter.quote(column) if quote_columns else column) -%}
{%- endfor -%}
select {{ columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
