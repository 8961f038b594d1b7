CREATE OR REPLACE VIEW `monitoring_hub`.`consolidated`.`all_billing_summary`
COMMENT 'managed by system-tables-monitor (target central_hub) digest=f3215c8d0b04'
AS
SELECT source_account, source_workspace, `account_id`, `record_id`, `net_cost_usd`, `legacy_flag`
FROM (
  SELECT *, ROW_NUMBER() OVER (PARTITION BY `account_id`, `record_id` ORDER BY CASE WHEN source_account = 'acme_prod' AND source_workspace = 'acme_prod_eu' THEN 0 WHEN source_account = 'acme_prod' AND source_workspace = 'acme_prod_us' THEN 1 WHEN source_account = 'globex_dev' AND source_workspace = 'globex_dev_us' THEN 2 END) AS _stm_provider_rank
  FROM (
    SELECT 'acme_prod' AS source_account, 'acme_prod_eu' AS source_workspace, `account_id`, `record_id`, `net_cost_usd`, CAST(NULL AS boolean) AS `legacy_flag`
    FROM `stm_src_acme_prod_eu`.`workspace_usage`.`billing_summary`
    UNION ALL
    SELECT 'acme_prod' AS source_account, 'acme_prod_us' AS source_workspace, `account_id`, `record_id`, CAST(NULL AS decimal(38,18)) AS `net_cost_usd`, `legacy_flag`
    FROM `stm_src_acme_prod_us`.`workspace_usage`.`billing_summary`
    UNION ALL
    SELECT 'globex_dev' AS source_account, 'globex_dev_us' AS source_workspace, `account_id`, `record_id`, `net_cost_usd`, CAST(NULL AS boolean) AS `legacy_flag`
    FROM `stm_src_globex_dev_us`.`workspace_usage`.`billing_summary`
  ) AS providers
) AS ranked
WHERE _stm_provider_rank = 1
