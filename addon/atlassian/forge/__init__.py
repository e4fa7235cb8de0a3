"""The Forge Remote adapter: this Flask service as the remote backend of a Forge app.

Beside the Connect code of `addon.atlassian`, and switched on by FORGE_ENABLED. `fit` verifies
the Forge Invocation Token of every call, `keys` caches Atlassian's signing keys, `tenants`
stores the Forge installations and `routes` serves the `/forge/...` endpoints.
"""
