"""A small in-process cache with a time to live, for Jira responses that may be a little stale."""

import threading
import time


class TTLCache:
    """Maps keys to values for `ttl_secs`; thread-safe; the oldest entries go first past `max_entries`."""

    def __init__(self, ttl_secs, max_entries=10_000):
        self.ttl_secs = ttl_secs
        self.max_entries = max_entries
        self._entries = {}
        self._lock = threading.Lock()

    def get_or_compute(self, key, compute):
        """Return the cached value of `key`, or compute, store and return it."""
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                return entry[1]
        value = compute()
        with self._lock:
            if len(self._entries) >= self.max_entries:
                for stale in sorted(self._entries, key=lambda k: self._entries[k][0])[: self.max_entries // 10 or 1]:
                    del self._entries[stale]
            self._entries[key] = (now + self.ttl_secs, value)
        return value

    def invalidate(self, key=None):
        with self._lock:
            if key is None:
                self._entries.clear()
            else:
                self._entries.pop(key, None)
