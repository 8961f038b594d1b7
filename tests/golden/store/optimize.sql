OPTIMIZE `monitoring`.`workspace_usage`.`billing_usage_bronze` ZORDER BY (`usage_date`, `workspace_id`)
