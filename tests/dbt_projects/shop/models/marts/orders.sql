{% set methods = payment_methods() %}
with payments as (
    select
        order_id,
        {% for method in methods -%}
        sum(case when payment_method = '{{ method }}' then amount else 0 end) as {{ method }}_amount,
        {% endfor -%}
        sum(amount) as total_amount
    from {{ ref('stg_payments') }}
    group by order_id
)
select
    orders.order_id,
    orders.customer_id,
    orders.order_date,
    orders.status,
    stores.store_name,
    {% for method in methods -%}
    coalesce(payments.{{ method }}_amount, 0) as {{ method }}_amount,
    {% endfor -%}
    coalesce(payments.total_amount, 0) as amount
from {{ ref('stg_orders') }} as orders
left join payments using (order_id)
left join {{ ref('stg_stores') }} as stores using (store_id)
