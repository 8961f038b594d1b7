"""system-tables-monitor: core package (configuration, errors, the table store seam and the CLI)."""

from importlib import resources

__version__ = resources.files("stm").joinpath("VERSION").read_text().strip()
