"""The Mutation root: wiring only, each field calls its resolver."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from resolvers import (
    auth,
    feed,
    field_access,
    lifecycle,
    org,
    records,
    sessions,
    sharing,
    tasks,
    teams,
    transitions,
    work_items,
)
from schema.access import CreateSharingRuleInput, SharingRule
from schema.confirmation import ConfirmationMutation
from schema.enums import (
    DataAccess,
    FieldAccess,
    FollowUpAccess,
    FunctionRole,
    ObjectType,
    OldOwnerHandling,
    TeamRole,
)
from schema.feed import (
    CalendarEvent,
    CreateCalendarEventInput,
    CreateTaskInput,
    FeedItem,
    PostSalesRecordInput,
    Reminder,
    Reply,
    Task,
    UpdateFeedItemInput,
)
from schema.notifications import NotificationMutation
from schema.org import (
    AuthPayload,
    CreateDepartmentInput,
    CreateUserInput,
    Department,
    EnterpriseSettings,
    EnterpriseSettingsInput,
    RegisterEnterpriseInput,
    UpdateDepartmentInput,
    UpdateUserInput,
    User,
    given,
)
from schema.permissions import ADMIN, SIGNED_IN
from schema.record_page import RecordPageMutation
from schema.records import RecordInterface, TeamMemberInput, wrap_record
from schema.retry import retry_each_mutation
from schema.roles import RoleMutation
from schema.transfer import TransferMutation


def _record(row: object) -> RecordInterface:
    wrapped = wrap_record(row)  # type: ignore[arg-type]
    assert wrapped is not None
    return wrapped


async def _marked(info: strawberry.Info, item_id: strawberry.ID, mark: str, on: bool) -> FeedItem:
    row = await feed.set_mark(info.context, item_id, mark, on)
    return FeedItem(row=row, loaders=info.context.loaders)


@strawberry.type
class Mutation(
    NotificationMutation, RecordPageMutation, RoleMutation, TransferMutation, ConfirmationMutation
):
    @strawberry.mutation(description="Create an enterprise and its first CRM administrator.")
    async def register_enterprise(
        self, info: strawberry.Info, input: RegisterEnterpriseInput
    ) -> AuthPayload:
        result = await auth.register_enterprise(
            info.context,
            enterprise_name=input.enterprise_name,
            admin_name=input.admin_name,
            email=input.email,
            password=input.password,
        )
        return AuthPayload(token=result.token, user=User(row=result.user))

    @strawberry.mutation
    async def login(self, info: strawberry.Info, email: str, password: str) -> AuthPayload:
        result = await auth.login(info.context, email=email, password=password)
        return AuthPayload(token=result.token, user=User(row=result.user))

    @strawberry.mutation(extensions=ADMIN)
    async def create_department(
        self, info: strawberry.Info, input: CreateDepartmentInput
    ) -> Department:
        row = await org.create_department(
            info.context, name=input.name, parent_id=input.parent_id, head_id=input.head_id
        )
        return Department(row=row)

    @strawberry.mutation(extensions=ADMIN)
    async def update_department(
        self, info: strawberry.Info, id: strawberry.ID, input: UpdateDepartmentInput
    ) -> Department:
        return Department(row=await org.update_department(info.context, id, given(input)))

    @strawberry.mutation(extensions=ADMIN)
    async def create_user(self, info: strawberry.Info, input: CreateUserInput) -> User:
        row = await org.create_user(
            info.context,
            name=input.name,
            email=input.email,
            password=input.password,
            department_id=input.department_id,
            superior_id=input.superior_id,
            roles=input.roles,
            custom_roles=input.custom_roles,
        )
        return User(row=row)

    @strawberry.mutation(extensions=ADMIN)
    async def update_user(
        self, info: strawberry.Info, id: strawberry.ID, input: UpdateUserInput
    ) -> User:
        return User(row=await org.update_user(info.context, id, given(input)))

    @strawberry.mutation(
        extensions=ADMIN,
        description="The user can no longer log in and every token they hold stops working "
        "(their open websockets are closed); their records and feed items stay. Not yourself, "
        "nor the last active CRM administrator.",
    )
    async def deactivate_user(self, info: strawberry.Info, id: strawberry.ID) -> User:
        return User(row=await sessions.set_active(info.context, id, False))

    @strawberry.mutation(
        extensions=ADMIN,
        description="The user can log in again (tokens from before the deactivation stay void).",
    )
    async def reactivate_user(self, info: strawberry.Info, id: strawberry.ID) -> User:
        return User(row=await sessions.set_active(info.context, id, True))

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Revoke the token of this request (its websockets are closed).",
    )
    async def logout(self, info: strawberry.Info) -> bool:
        return await sessions.logout(info.context)

    @strawberry.mutation(extensions=ADMIN)
    async def set_follow_up_access(
        self,
        info: strawberry.Info,
        object_type: ObjectType,
        team_role: TeamRole,
        access: FollowUpAccess,
    ) -> bool:
        return await sharing.set_follow_up_access(info.context, object_type, team_role, access)

    @strawberry.mutation(extensions=ADMIN)
    async def create_sharing_rule(
        self, info: strawberry.Info, input: CreateSharingRuleInput
    ) -> SharingRule:
        row = await sharing.create_sharing_rule(
            info.context,
            object_type=input.object_type,
            from_user_id=input.from_user_id,
            from_department_id=input.from_department_id,
            to_user_id=input.to_user_id,
            to_department_id=input.to_department_id,
            access=input.access,
        )
        return SharingRule(row=row)

    @strawberry.mutation(extensions=ADMIN)
    async def delete_sharing_rule(self, info: strawberry.Info, id: strawberry.ID) -> bool:
        return await sharing.delete_sharing_rule(info.context, id)

    @strawberry.mutation(extensions=ADMIN)
    async def update_enterprise_settings(
        self, info: strawberry.Info, input: EnterpriseSettingsInput
    ) -> EnterpriseSettings:
        row = await sharing.update_enterprise_settings(
            info.context, sharing_opens_follow_up=input.sharing_opens_follow_up
        )
        return EnterpriseSettings(row=row)

    @strawberry.mutation(
        extensions=ADMIN,
        description="Set a function role's access to an object field (default READ_WRITE).",
    )
    async def set_field_access(
        self,
        info: strawberry.Info,
        object_type: ObjectType,
        field: str,
        role: FunctionRole,
        access: FieldAccess,
    ) -> bool:
        return await field_access.set_field_access(info.context, object_type, field, role, access)

    @strawberry.mutation(permission_classes=SIGNED_IN)
    async def create_record(
        self,
        info: strawberry.Info,
        object_type: ObjectType,
        values: JSON,
        owner_id: strawberry.ID | None = None,
    ) -> RecordInterface:
        return _record(await records.create_record(info.context, object_type, values, owner_id))

    @strawberry.mutation(permission_classes=SIGNED_IN)
    async def update_record(
        self, info: strawberry.Info, id: strawberry.ID, values: JSON
    ) -> RecordInterface:
        return _record(await records.update_record(info.context, id, values))

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Change the record's status by one of its transitions (Record.transitions "
        "lists the ones you may apply; input carries what the transition needs, e.g. "
        "{reason} or {assigneeId}). Writes a SALES_PROCESS item in the record's feed.",
    )
    async def transition_record(
        self,
        info: strawberry.Info,
        id: strawberry.ID,
        transition: str,
        comment: str | None = None,
        input: JSON | None = None,
    ) -> RecordInterface:
        row = await transitions.transition_record(info.context, id, transition, comment, input)
        return _record(row)

    @strawberry.mutation(permission_classes=SIGNED_IN)
    async def change_owner(
        self,
        info: strawberry.Info,
        id: strawberry.ID,
        new_owner_id: strawberry.ID,
        old_owner: OldOwnerHandling = OldOwnerHandling.REMOVE,
        old_owner_access: DataAccess | None = None,
        old_owner_team_role: TeamRole | None = None,
    ) -> RecordInterface:
        row = await teams.change_owner(
            info.context,
            id,
            new_owner_id,
            keep_old_owner=old_owner is OldOwnerHandling.KEEP_AS_MEMBER,
            old_owner_access=old_owner_access,
            old_owner_team_role=old_owner_team_role,
        )
        return _record(row)

    @strawberry.mutation(permission_classes=SIGNED_IN)
    async def add_team_members(
        self,
        info: strawberry.Info,
        record_id: strawberry.ID,
        members: list[TeamMemberInput],
        also_add_to_record_ids: list[strawberry.ID] | None = None,
    ) -> RecordInterface:
        new = [teams.NewMember(m.user_id, m.team_role, m.access) for m in members]
        row = await teams.add_team_members(info.context, record_id, new, also_add_to_record_ids)
        return _record(row)

    @strawberry.mutation(permission_classes=SIGNED_IN)
    async def remove_team_member(
        self, info: strawberry.Info, record_id: strawberry.ID, user_id: strawberry.ID
    ) -> RecordInterface:
        return _record(await teams.remove_team_member(info.context, record_id, user_id))

    @strawberry.mutation(permission_classes=SIGNED_IN)
    async def invalidate_record(self, info: strawberry.Info, id: strawberry.ID) -> RecordInterface:
        return _record(await lifecycle.invalidate(info.context, id))

    @strawberry.mutation(
        permission_classes=SIGNED_IN, description="CRM administrators, from the recycle bin."
    )
    async def restore_record(self, info: strawberry.Info, id: strawberry.ID) -> RecordInterface:
        return _record(await lifecycle.restore(info.context, id))

    @strawberry.mutation(
        permission_classes=SIGNED_IN, description="CRM administrators, from the recycle bin."
    )
    async def delete_record(self, info: strawberry.Info, id: strawberry.ID) -> bool:
        return await lifecycle.delete(info.context, id)

    @strawberry.mutation(permission_classes=SIGNED_IN)
    async def forward_record(
        self,
        info: strawberry.Info,
        id: strawberry.ID,
        to_user_ids: list[strawberry.ID],
        message: str | None = None,
    ) -> bool:
        await tasks.forward(
            info.context, item_id=None, record_id=id, to_user_ids=to_user_ids, message=message
        )
        return True

    # -- follow-up activity ----------------------------------------------------------------------

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Post a sales record (or another postable type); accountId fills relatedTo.",
    )
    async def post_sales_record(
        self, info: strawberry.Info, input: PostSalesRecordInput
    ) -> FeedItem:
        new = feed.NewItem(
            content=input.content,
            type=input.type,
            related_to=list(input.related_to or []),
            account_id=input.account_id,
            mentions=list(input.mentions or []),
            cc=list(input.cc or []),
        )
        return FeedItem(row=await feed.post(info.context, new), loaders=info.context.loaders)

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="The author edits content or the account lookup (clearing it keeps relatedTo).",
    )
    async def update_feed_item(
        self, info: strawberry.Info, id: strawberry.ID, input: UpdateFeedItemInput
    ) -> FeedItem:
        changes = given(input)
        content = changes.pop("content", None)
        row = await feed.update_item(info.context, id, content, changes)  # type: ignore[arg-type]
        return FeedItem(row=row, loaders=info.context.loaders)

    @strawberry.mutation(permission_classes=SIGNED_IN)
    async def reply(
        self,
        info: strawberry.Info,
        item_id: strawberry.ID,
        content: str,
        mentions: list[strawberry.ID] | None = None,
    ) -> Reply:
        row = await feed.reply(info.context, item_id, content, mentions)
        author = await info.context.loaders.user_by_id.load(row.author_id)
        return Reply(row=row, author=author)

    @strawberry.mutation(permission_classes=SIGNED_IN)
    async def like(self, info: strawberry.Info, item_id: strawberry.ID) -> FeedItem:
        return await _marked(info, item_id, "like", True)

    @strawberry.mutation(permission_classes=SIGNED_IN)
    async def unlike(self, info: strawberry.Info, item_id: strawberry.ID) -> FeedItem:
        return await _marked(info, item_id, "like", False)

    @strawberry.mutation(permission_classes=SIGNED_IN)
    async def favorite(self, info: strawberry.Info, item_id: strawberry.ID) -> FeedItem:
        return await _marked(info, item_id, "favorite", True)

    @strawberry.mutation(permission_classes=SIGNED_IN)
    async def unfavorite(self, info: strawberry.Info, item_id: strawberry.ID) -> FeedItem:
        return await _marked(info, item_id, "favorite", False)

    @strawberry.mutation(permission_classes=SIGNED_IN)
    async def follow(self, info: strawberry.Info, item_id: strawberry.ID) -> FeedItem:
        return await _marked(info, item_id, "follow", True)

    @strawberry.mutation(permission_classes=SIGNED_IN)
    async def unfollow(self, info: strawberry.Info, item_id: strawberry.ID) -> FeedItem:
        return await _marked(info, item_id, "follow", False)

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Turn an item into a task; the assignee must be able to see the item.",
    )
    async def convert_to_task(
        self,
        info: strawberry.Info,
        item_id: strawberry.ID,
        assignee_id: strawberry.ID,
        due_at: datetime | None = None,
    ) -> Task:
        return Task(row=await tasks.convert_to_task(info.context, item_id, assignee_id, due_at))

    @strawberry.mutation(permission_classes=SIGNED_IN, description="A task about a record.")
    async def create_task(self, info: strawberry.Info, input: CreateTaskInput) -> Task:
        row = await tasks.create_task(
            info.context, input.record_id, input.title, input.assignee_id, input.due_at
        )
        return Task(row=row)

    @strawberry.mutation(permission_classes=SIGNED_IN)
    async def create_calendar_event(
        self, info: strawberry.Info, input: CreateCalendarEventInput
    ) -> CalendarEvent:
        row, people = await tasks.create_calendar_event(
            info.context,
            title=input.title,
            starts_at=input.starts_at,
            ends_at=input.ends_at,
            record_id=input.record_id,
            item_id=input.item_id,
            participant_ids=list(input.participant_ids or []),
        )
        return CalendarEvent(row=row, participant_ids=people)

    @strawberry.mutation(permission_classes=SIGNED_IN, description="Remind people of an item.")
    async def add_reminder(
        self,
        info: strawberry.Info,
        item_id: strawberry.ID,
        remind_at: datetime,
        user_ids: list[strawberry.ID] | None = None,
        note: str | None = None,
    ) -> Reminder:
        row, people = await tasks.add_reminder(
            info.context,
            item_id=item_id,
            record_id=None,
            remind_at=remind_at,
            user_ids=user_ids,
            note=note,
        )
        return Reminder(row=row, user_ids=people)

    @strawberry.mutation(permission_classes=SIGNED_IN, description="Remind people of a record.")
    async def add_record_reminder(
        self,
        info: strawberry.Info,
        record_id: strawberry.ID,
        remind_at: datetime,
        user_ids: list[strawberry.ID] | None = None,
        note: str | None = None,
    ) -> Reminder:
        row, people = await tasks.add_reminder(
            info.context,
            item_id=None,
            record_id=record_id,
            remind_at=remind_at,
            user_ids=user_ids,
            note=note,
        )
        return Reminder(row=row, user_ids=people)

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Forward an item; recipients who may not see it get the card only.",
    )
    async def forward_feed_item(
        self,
        info: strawberry.Info,
        item_id: strawberry.ID,
        to_user_ids: list[strawberry.ID],
        message: str | None = None,
    ) -> bool:
        await tasks.forward(
            info.context, item_id=item_id, record_id=None, to_user_ids=to_user_ids, message=message
        )
        return True

    # -- closing and removing work items (who may: crmfeed/registry/work_items.py) ---------------

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Mark a task done (its assignee or its creator); the other one is told. "
        "Completing a done task changes nothing.",
    )
    async def complete_task(self, info: strawberry.Info, id: strawberry.ID) -> Task:
        return Task(row=await work_items.set_task_done(info.context, id, True))

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Open a done task again (its assignee or its creator); the other one is "
        "told. Reopening an open task changes nothing.",
    )
    async def reopen_task(self, info: strawberry.Info, id: strawberry.ID) -> Task:
        return Task(row=await work_items.set_task_done(info.context, id, False))

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Delete a sales record (or another posted item): its author or a CRM "
        "administrator. Its replies, likes, follows, favorites, reminders, forwards and "
        "notifications go with it. Items the system wrote cannot be deleted.",
    )
    async def delete_feed_item(self, info: strawberry.Info, id: strawberry.ID) -> bool:
        return await work_items.delete_feed_item(info.context, id)

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Delete a reply: its author or a CRM administrator. Its notifications go "
        "with it.",
    )
    async def delete_reply(self, info: strawberry.Info, id: strawberry.ID) -> bool:
        return await work_items.delete_reply(info.context, id)

    @strawberry.mutation(
        permission_classes=SIGNED_IN,
        description="Cancel a reminder that has not fired (only the person who set it): it "
        "never fires.",
    )
    async def cancel_reminder(self, info: strawberry.Info, id: strawberry.ID) -> bool:
        return await work_items.cancel_reminder(info.context, id)


retry_each_mutation(Mutation)
