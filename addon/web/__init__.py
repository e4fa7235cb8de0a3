"""The add-on's own surfaces: iframe pages and, later, the JSON API and websockets."""
