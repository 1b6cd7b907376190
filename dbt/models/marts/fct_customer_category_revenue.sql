-- What each customer bought per product category: one row per customer and category they bought
-- from, over orders that were neither cancelled nor returned (orphans' orders included).
-- fct_category_revenue adds these rows up, so a delivery touches the rows of the customers it
-- changed instead of every order: a distinct count of customers is not additive over days.
-- Incremental: a delivery recomputes the customers of the orders it changed (old and new customer,
-- macros/clawdata_changes.sql); a change to the catalogue (slv_products, which moves a product to
-- another category) rebuilds it in full.
{{ config(
    materialized='incremental',
    incremental_strategy='append',
    meta={'clawdata': {'recompute': 'customer_id', 'changed_in': [['slv_orders', 'customer_id']]}},
    pre_hook="{{ clawdata_delete_changed() }}",
) }}

with orders as (
    select * from {{ source('silver', 'slv_orders') }}
    where {{ is_revenue_order('status') }}
    {% if is_incremental() %}
      and {{ clawdata_is_changed() }}
    {% endif %}
)

select
    orders.customer_id,
    coalesce(products.category, 'unknown') as category,
    count(*) as orders,
    cast(sum(orders.quantity) as bigint) as items,
    cast(sum(orders.amount) as decimal(18, 2)) as revenue
from orders
left join {{ source('silver', 'slv_products') }} as products
    on orders.product_id = products.product_id
group by all
