-- ephemeral: inlined into what reads it, so a change above it must still reach its readers
{{ config(materialized='ephemeral') }}
select id as store_id, name as store_name, opened_at from {{ source('ecom', 'raw_stores') }}
