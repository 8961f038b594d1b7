CREATE OR REPLACE VIEW `monitoring_hub`.`consolidated`.`cost_forecast`
COMMENT 'managed by system-tables-monitor (target central_hub) digest=a4a0e31bd08d'
AS
WITH daily AS (
  SELECT source_account, CAST(workspace_id AS STRING) AS workspace_id, usage_date,
    CAST(SUM(total_cost_usd) AS DOUBLE) AS cost
  FROM `monitoring_hub`.`consolidated`.`all_workspaces_costs`
  GROUP BY source_account, CAST(workspace_id AS STRING), usage_date
),
newest AS (SELECT max(usage_date) AS as_of FROM daily),
levels AS (
  SELECT 'account' AS level, source_account, CAST(NULL AS STRING) AS workspace_id, usage_date, SUM(cost) AS cost
  FROM daily GROUP BY source_account, usage_date
  UNION ALL
  SELECT 'workspace' AS level, source_account, workspace_id, usage_date, cost FROM daily
),
keyed AS (
  SELECT concat_ws('/', level, source_account, coalesce(workspace_id, '')) AS series, level, source_account,
    workspace_id, usage_date, cost
  FROM levels
),
spans AS (
  SELECT series, first(level) AS level, first(source_account) AS source_account, first(workspace_id) AS workspace_id,
    min(usage_date) AS first_day
  FROM keyed GROUP BY series
),
days AS (
  SELECT s.series, s.level, s.source_account, s.workspace_id, n.as_of,
    explode(sequence(s.first_day, n.as_of)) AS usage_date
  FROM spans AS s CROSS JOIN newest AS n
),
filled AS (
  SELECT d.series, d.level, d.source_account, d.workspace_id, d.as_of, d.usage_date, coalesce(k.cost, 0D) AS cost
  FROM days AS d LEFT JOIN keyed AS k ON k.series = d.series AND k.usage_date = d.usage_date
),
observed AS (
  SELECT series, usage_date, cost FROM filled
  WHERE usage_date < as_of AND usage_date >= date_sub(as_of, 91)
),
predicted AS (
  SELECT * FROM ai_forecast(
    TABLE(observed),
    horizon => date_add(current_date(), 32),
    time_col => 'usage_date',
    value_col => 'cost',
    group_col => 'series',
    frequency => 'D'
  )
),
ahead AS (
  SELECT p.series, p.usage_date, greatest(p.cost_forecast, 0D) AS cost
  FROM predicted AS p CROSS JOIN newest AS n
  WHERE p.usage_date >= n.as_of AND p.usage_date <= date_add(n.as_of, 30)
)
SELECT f.level, f.source_account, f.workspace_id, f.as_of, CAST(count(*) AS INT) AS history_days,
  'ai_forecast' AS method,
  round(SUM(CASE WHEN f.usage_date >= trunc(f.as_of, 'MM') THEN f.cost ELSE 0D END), 2) AS month_to_date_usd,
  round(SUM(CASE WHEN f.usage_date >= trunc(f.as_of, 'MM') AND f.usage_date < f.as_of THEN f.cost ELSE 0D END)
    + first(a.month_rest), 2) AS month_end_usd,
  round(first(a.next_30), 2) AS next_30_days_usd
FROM filled AS f
LEFT JOIN (
  SELECT a.series,
    SUM(CASE WHEN a.usage_date <= last_day(n.as_of) THEN a.cost ELSE 0D END) AS month_rest,
    SUM(CASE WHEN a.usage_date > n.as_of THEN a.cost ELSE 0D END) AS next_30
  FROM ahead AS a CROSS JOIN newest AS n
  GROUP BY a.series
) AS a ON a.series = f.series
GROUP BY f.series, f.level, f.source_account, f.workspace_id, f.as_of
