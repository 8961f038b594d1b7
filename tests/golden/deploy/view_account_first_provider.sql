CREATE OR REPLACE VIEW `monitoring_hub`.`consolidated`.`all_cost_by_product`
COMMENT 'managed by system-tables-monitor (target central_hub) digest=5c67c99d65ed'
AS
SELECT 'acme_prod' AS source_account, 'acme_prod_eu' AS source_workspace, `account_id`, `record_id`, `net_cost_usd`
FROM `stm_src_acme_prod_eu`.`workspace_usage`.`cost_by_product`
UNION ALL
SELECT 'globex_dev' AS source_account, 'globex_dev_us' AS source_workspace, `account_id`, `record_id`, `net_cost_usd`
FROM `stm_src_globex_dev_us`.`workspace_usage`.`cost_by_product`
