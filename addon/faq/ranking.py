"""Ranking of FAQ and TUTO articles for a key user's statement: BM25F with a relevance threshold.

FaqIndex analyses every article once (analysis.SynonymTable) into weighted title, tags and body
fields and stores, per term, the saturated BM25 weight of each article that contains it. The score
of an article sums, over the statement's terms, the term's IDF times that stored weight. Error
codes weigh CODE_BOOST times a word. A word of TYPO_MIN_CHARS letters or more that no article
contains is replaced by the article words one edit away (insertion, deletion, substitution or swap
of two neighbours), at TYPO_WEIGHT.

An article's coverage is the share of the statement's IDF mass carried by the terms it contains.
A statement word that no article contains counts in that mass at the IDF of an unseen term times
UNKNOWN_WORD_WEIGHT, so a statement about a topic that the articles do not cover gets a low
coverage everywhere. The relevance, which orders the suggestions and which Suggestion.score
carries, is the score times the coverage, divided by the IDF of an unseen term. That IDF is the
largest one of the index and grows with the number of articles, so the division keeps one
threshold valid for a catalogue of ten articles and one of thousands. An article is proposed when its relevance reaches
MIN_RELEVANCE and its coverage MIN_COVERAGE, and when its relevance is at least RELATIVE_CUTOFF
times the best one. These values were set on the evaluation set in eval/faq, as docs/faq-engine.md
describes.
"""

import math
from collections import Counter
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Iterable

from .analysis import CODE, WORD, SynonymTable
from .typos import TypoIndex

# BM25 parameters: term-frequency saturation and length normalisation per field.
K1 = 1.2
FIELD_WEIGHTS = {"title": 3.0, "tags": 2.0, "body": 1.0}
FIELD_LENGTH_NORMALISATION = {"title": 0.5, "tags": 0.3, "body": 0.75}

CODE_BOOST = 3.0
TYPO_MIN_CHARS = 5
TYPO_WEIGHT = 0.7

MIN_RELEVANCE = 0.72
MIN_COVERAGE = 0.2
UNKNOWN_WORD_WEIGHT = 1.0
RELATIVE_CUTOFF = 0.4

_TERM = attrgetter("term")


@dataclass(frozen=True)
class Article:
    """A FAQ or TUTO article: from the add-on's catalogue or from the Confluence knowledge base."""

    id: str
    kind: str  # "faq" or "tuto"
    title: str
    body: str
    tags: tuple[str, ...] = ()
    url: str | None = None
    source: str = "catalogue"  # or "confluence"


@dataclass(frozen=True)
class Suggestion:
    """A proposed article and its relevance, as the module docstring defines it (higher is better, unbounded)."""

    article_id: str
    score: float


@dataclass(frozen=True)
class Thresholds:
    """The relevance threshold's parameters. The defaults are the production ones."""

    min_relevance: float = MIN_RELEVANCE
    min_coverage: float = MIN_COVERAGE
    unknown_word_weight: float = UNKNOWN_WORD_WEIGHT
    relative_cutoff: float = RELATIVE_CUTOFF


@dataclass
class _QueryTerm:
    term: str
    weight: float
    idf: float = 0.0
    postings: dict = field(default_factory=dict)


class FaqIndex:
    """An immutable search index over articles. `suggest` is safe to call from several threads."""

    def __init__(self, articles: Iterable[Article], synonyms: dict | None = None,
                 thresholds: Thresholds = Thresholds()):
        self._table = SynonymTable(synonyms)
        self._thresholds = thresholds
        self._ids = []
        self._postings = {}  # term -> {article position: saturated weight}
        self._typos = TypoIndex(TYPO_MIN_CHARS)

        analysed = []
        seen = set()
        tokens = set()
        for article in articles:
            if article.id in seen:
                raise ValueError(f"article id {article.id!r} appears twice; each article needs its own id")
            seen.add(article.id)
            self._ids.append(article.id)
            analysed.append(self._analyse_article(article, tokens))
        for token in tokens:
            if token.kind == WORD:
                self._typos.add(token.surface, token.term)
        self._index(analysed)

    def __len__(self):
        return len(self._ids)

    def _analyse_article(self, article, seen_tokens):
        """Return {field: Counter of terms} of the article, and add its tokens to `seen_tokens`."""
        fields = {
            "title": self._table.tokens(article.title),
            "tags": self._table.tokens(" ; ".join(article.tags)),
            "body": self._table.tokens(article.body),
        }
        for tokens in fields.values():
            seen_tokens.update(tokens)
        return {name: Counter(map(_TERM, tokens)) for name, tokens in fields.items()}

    def _index(self, analysed):
        """Store, per term, the saturated BM25F weight of each article, from {field: term counts}."""
        count = max(len(analysed), 1)
        lengths = [{name: sum(counts.values()) for name, counts in fields.items()} for fields in analysed]
        average_lengths = {
            name: max(sum(length[name] for length in lengths) / count, 1.0) for name in FIELD_WEIGHTS
        }
        for position, fields in enumerate(analysed):
            frequencies = {}
            for name, counts in fields.items():
                normalisation = FIELD_LENGTH_NORMALISATION[name]
                field_length = 1 - normalisation + normalisation * lengths[position][name] / average_lengths[name]
                increment = FIELD_WEIGHTS[name] / field_length
                for term, occurrences in counts.items():
                    frequencies[term] = frequencies.get(term, 0.0) + occurrences * increment
            for term, frequency in frequencies.items():
                self._postings.setdefault(term, {})[position] = frequency * (K1 + 1) / (frequency + K1)

        self._count = len(analysed)
        # The IDF of a term found in no article: what a statement's unknown words weigh in its mass.
        self._unknown_idf = self._idf(0)

    def _idf(self, document_frequency):
        return math.log(1 + (self._count - document_frequency + 0.5) / (document_frequency + 0.5))

    def suggest(self, text: str, limit: int = 5) -> list[Suggestion]:
        """Return at most `limit` articles for `text`, best first, or [] when none reaches the threshold."""
        terms = self._query_terms(text)
        if not terms or not self._ids:
            return []

        thresholds = self._thresholds
        unknown_idf = thresholds.unknown_word_weight * self._unknown_idf
        mass = sum(term.weight * (term.idf if term.postings else unknown_idf) for term in terms.values())
        scores, covered = {}, {}
        for term in terms.values():
            for position, weight in term.postings.items():
                scores[position] = scores.get(position, 0.0) + term.weight * term.idf * weight
                covered[position] = covered.get(position, 0.0) + term.weight * term.idf

        passed = []
        for position, score in scores.items():
            coverage = covered[position] / mass
            relevance = score * coverage / self._unknown_idf
            if relevance >= thresholds.min_relevance and coverage >= thresholds.min_coverage:
                passed.append((relevance, position))
        if not passed:
            return []
        passed.sort(key=lambda item: (-item[0], item[1]))
        best = passed[0][0]
        return [
            Suggestion(self._ids[position], round(relevance, 4))
            for relevance, position in passed[:limit]
            if relevance >= thresholds.relative_cutoff * best
        ]

    def _query_terms(self, text):
        """Return {term: _QueryTerm} of the statement, typos replaced, each term once at its top weight."""
        terms = {}

        def add(term, weight):
            postings = self._postings.get(term, {})
            current = terms.get(term)
            if current is None:
                terms[term] = _QueryTerm(term, weight, self._idf(len(postings)), postings)
            elif weight > current.weight:
                current.weight = weight

        for token in self._table.tokens(text):
            if token.kind == CODE:
                add(token.term, CODE_BOOST)
            elif token.kind == WORD and token.term not in self._postings and len(token.surface) >= TYPO_MIN_CHARS:
                corrections = self._typos.corrections(token.surface)
                if corrections:
                    for term in sorted(corrections):  # a fixed order keeps the float sums identical
                        add(term, TYPO_WEIGHT)
                else:
                    add(token.term, 1.0)
            else:
                add(token.term, 1.0)
        return terms
