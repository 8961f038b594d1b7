"""The one dashboard: datasets as SQL over the hub's consolidated tables, and pages of widgets over them.

``definition`` declares it (pure data). Two renderers read it: ``stm report`` runs the datasets on Spark over the
hub's tables and draws the HTML page (``stm.report``); ``lakeview`` serializes it as an AI/BI (Lakeview) dashboard
that ``stm deploy apply`` puts on the Databricks hub and ``stm deploy bundle`` writes as a ``.lvdash.json``.
"""
