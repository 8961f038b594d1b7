CREATE OR REPLACE VIEW `monitoring_hub`.`consolidated`.`cost_by_product`
COMMENT 'managed by system-tables-monitor (target central_hub) digest=defea03b1529'
AS
SELECT 'acme_prod' AS source_account, 'acme_prod_eu' AS source_workspace, * FROM `stm_src_acme_prod_eu`.`workspace_usage`.`cost_by_product`
UNION ALL
SELECT 'globex_dev' AS source_account, 'globex_dev_us' AS source_workspace, * FROM `stm_src_globex_dev_us`.`workspace_usage`.`cost_by_product`
