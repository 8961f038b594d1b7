"""A simulated Databricks system catalog: ``simulate`` writes it, ``SYSTEM_TABLES`` gives its schemas."""
