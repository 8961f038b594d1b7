"""``stm report``: a self-contained HTML dashboard from the hub's consolidated tables or one provider's tables.

Layers, imported one way: ``data`` (reads Delta tables) -> ``model``/``sections_*``/``build`` (pure pandas to a
report model) -> ``charts``/``render`` (pure model to HTML) <- ``command`` (the CLI wiring).
"""

DEFAULT_DAYS = 30  # the reporting window: days up to the newest usage date
DEFAULT_TOP = 10  # rows in the top-N charts
