{#- Orders that count towards revenue: everything except cancelled and returned ones.
    Silver statuses are already trimmed and lower-cased. -#}
{% macro lost_order_statuses() -%}
    ('cancelled', 'returned')
{%- endmacro %}

{% macro is_revenue_order(status_column='status') -%}
    ({{ status_column }} not in {{ lost_order_statuses() }})
{%- endmacro %}
