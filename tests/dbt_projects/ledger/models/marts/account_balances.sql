select
    accounts.account_id,
    accounts.account_name,
    accounts.segment,
    coalesce(sum(months.net_cents), 0) as balance_cents,
    count(months.month_start) as active_months
from {{ ref('stg_accounts') }} as accounts
left join {{ ref('fct_account_month') }} as months using (account_id)
group by 1, 2, 3
