"""The local site as a Forge host: it signs Forge Invocation Tokens and publishes their keys."""
