"""Database errors after which the same transaction, run again, may well succeed.

PostgreSQL aborts one of two transactions that wait for each other's row locks (deadlock
detected, SQLSTATE 40P01) and, under stricter isolation, one that read what another changed
(serialization failure, 40001). SQLite answers "database is locked" when the busy timeout runs
out while another connection holds the write lock. A write that refers to a row another
transaction deleted after this one read it (a reply to, or a like of, a feed item deleted in
between) breaks a foreign key (23503; SQLite's "FOREIGN KEY constraint failed"): run again, the
mutation reads that the row is gone and says so (NOT_FOUND). Nothing of the aborted
transaction was written; a lost connection is not on the list, since a commit may have been
under way.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

RETRYABLE_SQLSTATES = frozenset({"40001", "40P01", "23503"})


def is_transient(error: BaseException) -> bool:
    """Whether `error` aborted a transaction that may be run again from the start."""
    if not isinstance(error, DBAPIError) or error.connection_invalidated:
        return False
    if getattr(error.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    if isinstance(error, IntegrityError):
        return "FOREIGN KEY constraint failed" in str(error.orig)
    return isinstance(error, OperationalError) and "database is locked" in str(error.orig)
