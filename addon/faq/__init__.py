"""Self-service at chat start: FAQ and tutorial suggestions, and the out-of-scope guard."""
