"""Why one user may read one record: the facts behind every visibility grant, per record.

Each grant of `store.visibility.GRANTS` explains itself (`Grant.explain`, its per-record form
beside its per-viewer, per-row and per-column ones), so the facts and the list conditions are
declared in one place. Used by `explainAccess` and the record-action checker;
`tests/test_visibility_oracle.py` keeps the forms in agreement.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from store.access_facts import AccessFacts, OwnerDepartments, TeamPath
from store.models import DepartmentClosure, User
from store.visibility import GRANTS

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.ext.asyncio import AsyncSession

    from store.models import Record
    from store.viewer import Viewer

__all__ = ["AccessFacts", "TeamPath", "access_facts", "access_facts_many"]


async def access_facts(session: AsyncSession, subject: Viewer, record: Record) -> AccessFacts:
    """Every relation the subject has to the record."""
    return (await access_facts_many(session, subject, [record]))[record.id]


async def access_facts_many(
    session: AsyncSession, subject: Viewer, records: Sequence[Record]
) -> dict[int, AccessFacts]:
    """Every relation the subject has to each record, by record id: the owners' department
    chains, then one batched lookup per grant that needs one, for all the records together
    (a list's `allowedActions` and `transitions` read them through a DataLoader)."""
    found = {record.id: AccessFacts() for record in records}
    if not records:
        return found
    owners = sorted({record.owner_id for record in records})
    chains = (
        await session.execute(
            select(User.id, DepartmentClosure.ancestor_id)
            .join(DepartmentClosure, DepartmentClosure.descendant_id == User.department_id)
            .where(User.id.in_(owners))
        )
    ).all()
    above_owner: dict[int, set[int]] = {}
    for owner, department in chains:
        above_owner.setdefault(owner, set()).add(department)
    departments = OwnerDepartments(above_owner)
    for grant in GRANTS:
        await grant.explain(session, subject, records, found, departments)
    return found
