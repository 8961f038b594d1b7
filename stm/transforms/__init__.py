"""The pure transforms: DataFrames in, DataFrames out, no reads, writes or sessions of their own.

Bronze deduplication and audit columns, the cost model, the gold and AI/ML models and their registry (``models``),
current state, rollups, attribution, governance and FOCUS. The streaming apps (``streaming``) and the batch jobs
(``batch``) are thin runners over them: they read, call a transform, and write.
"""
