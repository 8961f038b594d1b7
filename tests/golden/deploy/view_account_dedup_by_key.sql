CREATE OR REPLACE VIEW `monitoring_hub`.`consolidated`.`billing_summary`
COMMENT 'managed by system-tables-monitor (target central_hub) digest=c3a71e580021'
AS
SELECT * FROM (
  SELECT 'acme_prod' AS source_account, 'acme_prod_eu' AS source_workspace, * FROM `stm_src_acme_prod_eu`.`workspace_usage`.`billing_summary`
  UNION ALL
  SELECT 'acme_prod' AS source_account, 'acme_prod_us' AS source_workspace, * FROM `stm_src_acme_prod_us`.`workspace_usage`.`billing_summary`
  UNION ALL
  SELECT 'globex_dev' AS source_account, 'globex_dev_us' AS source_workspace, * FROM `stm_src_globex_dev_us`.`workspace_usage`.`billing_summary`
) AS providers
QUALIFY ROW_NUMBER() OVER (PARTITION BY `account_id`, `record_id` ORDER BY CASE WHEN source_account = 'acme_prod' AND source_workspace = 'acme_prod_eu' THEN 0 WHEN source_account = 'acme_prod' AND source_workspace = 'acme_prod_us' THEN 1 WHEN source_account = 'globex_dev' AND source_workspace = 'globex_dev_us' THEN 2 END) = 1
