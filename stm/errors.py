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


class SourceUnreadable(JobFailed):
    """A source table exists but the running identity may not read it: a grant is missing (exit 1, never skipped)."""


# Databricks' error classes for a refused privilege (https://docs.databricks.com/aws/en/error-messages/error-classes:
# INSUFFICIENT_PERMISSIONS, "Insufficient privileges: ...", and PERMISSION_DENIED, both SQLSTATE 42501 "insufficient
# privilege", https://docs.databricks.com/aws/en/error-messages/sqlstates); a missing table is TABLE_OR_VIEW_NOT_FOUND.
PERMISSION_ERROR_CLASSES = ("INSUFFICIENT_PERMISSIONS", "PERMISSION_DENIED")


def is_permission_error(exc: BaseException) -> bool:
    """True for an error that refuses a privilege, as Spark (or Databricks) surfaces it: ``[CLASS] message``."""
    text = str(exc)
    return any(f"[{cls}" in text for cls in PERMISSION_ERROR_CLASSES) or "SQLSTATE: 42501" in text
