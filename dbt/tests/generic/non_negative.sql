{% test non_negative(model, column_name) %}
{#- Row by row: an incremental build may check only the rows it changed (clawdata's `row_level`). -#}
{{ config(meta={'clawdata': {'row_level': true}}) }}
select {{ column_name }}
from {{ model }}
where {{ column_name }} < 0
{% endtest %}
