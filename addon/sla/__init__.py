"""Service-level agreements: business calendars, first-response clocks, warnings and escalation."""
