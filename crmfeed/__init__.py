"""crmfeed: a GraphQL service for a CRM's follow-up activity."""

__version__ = "0.1.0"
