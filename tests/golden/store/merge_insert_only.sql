MERGE WITH SCHEMA EVOLUTION INTO `monitoring`.`workspace_usage`.`billing_usage_bronze` AS t
USING `stm_src_1` AS s
ON t.`record_id` = s.`record_id`
WHEN NOT MATCHED THEN INSERT *
