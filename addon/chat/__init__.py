"""The chat: conversations tied to JSM requests, their messages, and who may see them."""
