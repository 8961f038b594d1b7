"""One exception family for the whole product.

``UsageError`` and its subclasses are the user's fault (bad config, bad arguments, hostile names): the CLI prints
their one-line message and exits 2. Everything else in the family is a job failure: exit 1.
"""


class StmError(Exception):
    """Base of every error this product raises on purpose."""

    exit_code = 1


class UsageError(StmError):
    """Bad command-line usage or input: exit code 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A configuration value is wrong; the message names the field path and what is allowed."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"config {path}: {problem}")
        self.path = path
        self.problem = problem


class InvalidIdentifier(UsageError):
    """A name that would reach SQL is not a plain identifier."""


class TableNotFound(StmError):
    """A Delta table expected by a job does not exist."""


class AppRunning(UsageError):
    """An operation that needs the app stopped was asked while it runs."""


class JobFailed(StmError):
    """A streaming app or batch job failed; the message says which and why."""
