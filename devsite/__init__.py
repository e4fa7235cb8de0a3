"""A local stand-in for a Jira Cloud site with Jira Service Management, for development and tests.

It checks Connect apps as strictly as Jira Cloud does (descriptor, signed lifecycle callbacks,
JWT on every REST call, webhooks with retries) and never imports the add-on.
"""
