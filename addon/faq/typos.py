"""Typo tolerance: the article words one edit away from a word that no article contains."""

import threading


class TypoIndex:
    """Folded article words of `min_chars` letters or more, and the terms they stem to.

    `corrections` finds the words one edit away (one letter inserted, deleted or replaced, or two
    neighbours swapped) through a table from each word with one letter deleted to the words it
    comes from. That table is built on the first lookup, because most statements need none.
    """

    def __init__(self, min_chars):
        self._min_chars = min_chars
        self._terms = {}  # folded word -> set of terms
        self._deletions = None
        self._lock = threading.Lock()

    def add(self, word, term):
        if len(word) >= self._min_chars and word.isalpha():
            self._terms.setdefault(word, set()).add(term)

    def corrections(self, word):
        """Return the terms of the article words one edit away from `word` (a folded word)."""
        if len(word) < self._min_chars or not word.isalpha():
            return set()
        if word in self._terms:
            return set(self._terms[word])
        deletions = self._deletions or self._build_deletions()

        candidates = set(deletions.get(word, ()))
        for variant in _one_deletion(word):
            candidates.update(deletions.get(variant, ()))
            if variant in self._terms:
                candidates.add(variant)
        terms = set()
        for candidate in candidates:
            if _within_one_edit(word, candidate):
                terms.update(self._terms[candidate])
        return terms

    def _build_deletions(self):
        with self._lock:
            if self._deletions is None:
                deletions = {}
                for word in self._terms:
                    for variant in _one_deletion(word):
                        deletions.setdefault(variant, []).append(word)
                self._deletions = deletions
        return self._deletions


def _one_deletion(word):
    return {word[:index] + word[index + 1:] for index in range(len(word))}


def _within_one_edit(first, second):
    """Tell whether the optimal string alignment distance of the two words is at most 1."""
    if first == second:
        return True
    if abs(len(first) - len(second)) > 1:
        return False
    if len(first) > len(second):
        first, second = second, first
    start = 0
    while start < len(first) and first[start] == second[start]:
        start += 1
    if len(first) < len(second):
        return first[start:] == second[start + 1:]
    if first[start + 1:] == second[start + 1:]:
        return True
    return (
        start + 1 < len(first)
        and first[start] == second[start + 1]
        and first[start + 1] == second[start]
        and first[start + 2:] == second[start + 2:]
    )
