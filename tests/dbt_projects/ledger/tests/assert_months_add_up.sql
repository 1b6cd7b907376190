-- Every transaction is in exactly one month: the monthly net adds up to the staged transactions.
select 'mismatch' as problem
from (select sum(net_cents) as total from {{ ref('fct_account_month') }}) as months
cross join (select sum(amount_cents) as total from {{ ref('stg_transactions') }}) as transactions
where months.total <> transactions.total
