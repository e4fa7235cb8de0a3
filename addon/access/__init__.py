"""Subscriptions and key users: which customers may chat, as support manages them."""
