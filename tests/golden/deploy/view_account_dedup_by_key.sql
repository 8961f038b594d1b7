CREATE OR REPLACE VIEW `monitoring_hub`.`consolidated`.`billing_summary`
COMMENT 'managed by system-tables-monitor (target central_hub) digest=74b63f36832c'
AS
SELECT * FROM (
  SELECT 'acme_prod' AS source_account, 'acme_prod_eu' AS source_workspace, * FROM `stm_src_acme_prod_eu`.`workspace_usage`.`billing_summary`
  UNION ALL
  SELECT 'acme_prod' AS source_account, 'acme_prod_us' AS source_workspace, * FROM `stm_src_acme_prod_us`.`workspace_usage`.`billing_summary`
  UNION ALL
  SELECT 'globex_dev' AS source_account, 'globex_dev_us' AS source_workspace, * FROM `stm_src_globex_dev_us`.`workspace_usage`.`billing_summary`
) AS providers
QUALIFY ROW_NUMBER() OVER (PARTITION BY `account_id`, `record_id` ORDER BY source_account, source_workspace) = 1
