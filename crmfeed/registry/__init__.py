"""The rules the seeds give as tables, declared once as data.

`objects` describes every business object (fields, statuses, team roles), `roles` the function
roles and what each reads, `permissions` the function permissions and each role's defaults,
`actions` who may do which record action in which status, `transitions` how statuses change. GraphQL
types, validation and permission checks all read these modules; none of them repeats a rule.
"""
