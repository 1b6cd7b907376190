-- Revenue per order date. Orders from customers missing in the CRM export (orphans) still count:
-- the money came in, whoever the customer was.
-- Incremental: a delivery recomputes only the dates its orders touch (macros/clawdata_changes.sql).
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    meta={'clawdata': {'recompute': 'order_date', 'changed_in': [['slv_orders', 'order_date']]}},
    pre_hook="{{ clawdata_delete_changed() }}",
) }}

with orders as (
    select
        *,
        {{ is_revenue_order('status') }} as is_revenue
    from {{ source('silver', 'slv_orders') }}
    {% if is_incremental() %}
    where {{ clawdata_is_changed() }}
    {% endif %}
)

select
    order_date,
    count(*) filter (where is_revenue) as orders,
    cast(coalesce(sum(quantity) filter (where is_revenue), 0) as bigint) as items,
    cast(coalesce(sum(amount) filter (where is_revenue), 0) as decimal(18, 2)) as revenue,
    count(distinct customer_id) filter (where is_revenue) as customers,
    count(*) filter (where not is_revenue) as lost_orders
from orders
group by order_date
