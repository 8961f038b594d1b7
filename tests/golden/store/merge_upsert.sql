MERGE WITH SCHEMA EVOLUTION INTO `monitoring`.`workspace_usage`.`billing_usage_bronze` AS t
USING `stm_src_1` AS s
ON t.`workspace_id` = s.`workspace_id` AND t.`job_id` = s.`job_id` AND t.`change_time` = s.`change_time`
WHEN MATCHED THEN UPDATE SET *
WHEN NOT MATCHED THEN INSERT *
