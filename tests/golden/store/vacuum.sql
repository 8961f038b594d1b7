VACUUM `monitoring`.`workspace_usage`.`billing_usage_bronze` RETAIN 168 HOURS
