-- One row per silver customer, with their order history summarised.
-- Incremental: a delivery recomputes only the customers it changed and the customers of the orders
-- it changed (macros/clawdata_changes.sql).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    meta={'clawdata': {'recompute': 'customer_id',
                       'changed_in': [['slv_customers', 'customer_id'], ['slv_orders', 'customer_id']]}},
    pre_hook="{{ clawdata_delete_changed() }}",
) }}

with customers as (
    select * from {{ source('silver', 'slv_customers') }}
    {% if is_incremental() %}
    where {{ clawdata_is_changed() }}
    {% endif %}
),

orders as (
    select * from {{ source('silver', 'slv_orders') }}
    {% if is_incremental() %}
    where {{ clawdata_is_changed() }}
    {% endif %}
),

customer_orders as (
    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) filter (where {{ is_revenue_order('status') }}) as order_count,
        sum(amount) filter (where {{ is_revenue_order('status') }}) as lifetime_value
    from orders
    group by customer_id
)

select
    customers.customer_id,
    customers.first_name,
    customers.last_name,
    customers.email,
    customers.phone,
    customers.city,
    customers.country,
    customers.signup_date as customer_since,
    customer_orders.first_order_date,
    customer_orders.last_order_date,
    coalesce(customer_orders.order_count, 0) as order_count,
    cast(coalesce(customer_orders.lifetime_value, 0) as decimal(18, 2)) as lifetime_value,
    customers.updated_at
from customers
left join customer_orders
    on customers.customer_id = customer_orders.customer_id
