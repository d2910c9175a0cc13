"""The rules the seeds give as tables, declared once as data.

`objects` describes every business object (fields, statuses, team roles), `roles` the function
roles and their permissions, `actions` who may do which record action in which status. GraphQL
types, validation and permission checks all read these modules; none of them repeats a rule.
"""
