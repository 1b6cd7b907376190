-- Revenue per product category, with each category's share of the total.
with products as (
    select * from {{ source('silver', 'slv_products') }}
),

revenue_orders as (
    select
        orders.*,
        coalesce(products.category, 'unknown') as category
    from {{ source('silver', 'slv_orders') }} as orders
    left join products
        on orders.product_id = products.product_id
    where {{ is_revenue_order('orders.status') }}
),

catalogue as (
    select category, count(*) as products
    from products
    group by category
),

sales as (
    select
        category,
        count(*) as orders,
        cast(sum(quantity) as bigint) as items,
        sum(amount) as revenue,
        count(distinct customer_id) as customers
    from revenue_orders
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
