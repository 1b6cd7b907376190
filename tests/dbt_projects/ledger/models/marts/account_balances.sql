select
    accounts.account_id,
    accounts.account_name,
    accounts.segment,
    coalesce(sum(months.net_cents), 0) as balance_cents,
    {{ dbt.datediff("min(months.month_start)", "max(months.month_start)", "month") }} as months_spanned,
    count(months.month_start) as active_months
from {{ ref('stg_accounts') }} as accounts
left join {{ ref('fct_account_month') }} as months using (account_id)
group by 1, 2, 3
