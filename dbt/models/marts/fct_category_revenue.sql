-- Revenue per product category, with each category's share of the total.
with products as (
    select * from {{ source('silver', 'slv_products') }}
),

catalogue as (
    select category, count(*) as products
    from products
    group by category
),

-- Per customer and category first (fct_customer_category_revenue), so that a delivery recomputes
-- only its customers' rows there, and this sum reads one row per customer and category.
sales as (
    select
        category,
        cast(sum(orders) as bigint) as orders,
        cast(sum(items) as bigint) as items,
        sum(revenue) as revenue,
        count(customer_id) as customers
    from {{ ref('fct_customer_category_revenue') }}
    group by category
),

joined as (
    select
        coalesce(catalogue.category, sales.category) as category,
        coalesce(catalogue.products, 0) as products,
        coalesce(sales.orders, 0) as orders,
        coalesce(sales.items, 0) as items,
        cast(coalesce(sales.revenue, 0) as decimal(18, 2)) as revenue,
        coalesce(sales.customers, 0) as customers
    from catalogue
    full outer join sales
        on catalogue.category = sales.category
)

select
    *,
    cast(coalesce(revenue / nullif(sum(revenue) over (), 0), 0) as double) as revenue_share
from joined
