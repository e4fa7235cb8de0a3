"""Everything Atlassian Connect specific: descriptor, lifecycle, JWT in and out, the Jira client.

The chat, SLA and knowledge-base code talk to Jira only through this package's interfaces, so that
a Forge Remote adapter can sit beside it.
"""
