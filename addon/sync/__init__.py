"""Jira synchronisation: the comment outbox and the webhooks that bring Jira changes back."""
