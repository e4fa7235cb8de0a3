"""French text analysis for the FAQ search: the same steps turn articles and statements into terms.

`analyze(text)` folds case and accents after NFKC normalisation and removes elisions (l', d', qu'
with the straight or the typographic apostrophe). It recognises error codes, drops stop words,
rewrites SMS forms and the domain's abbreviations, and applies a light stemmer. The admin-editable
synonyms use the "BL = bon de livraison" format that `parse_synonyms` reads. They extend the
built-in SMS forms and domain abbreviations of `lexicon.py`, and an entry for the same form
replaces the built-in one.

An error code (ERR-1042, E1042, SQL-00942, 0x80004005) becomes one term that starts with
CODE_PREFIX. Its digits also become an ordinary term, so that "erreur 1042" finds ERR-1042 too.
"""

import re
import unicodedata
from functools import lru_cache
from itertools import chain
from operator import attrgetter
from typing import NamedTuple

from .lexicon import BUILTIN_SYNONYMS_TEXT, STOP_WORDS

CODE_PREFIX = "#"

# Token kinds. Only WORD tokens are candidates for typo correction.
WORD = "word"
CODE = "code"
NUMBER = "number"
EXPANSION = "expansion"

_APOSTROPHES = ("’", "‘", "ʼ", "`", "´", "′")

# A raw token: letters and digits, possibly joined by apostrophes, hyphens, underscores or dots
# (l'OF, ERR-1042, camt.053, dépôt-vente). Each raw token is then read once, through a cache.
_RAW_TOKEN = re.compile(r"[^\W_]+(?:['\-_.][^\W_]+)*")
_PART = re.compile(r"[^\W_]+")

# An error code is letters glued to three or more digits, optionally through one - _ or . (ERR-1042,
# E1042, SQL-00942, CAMT.053), or a hexadecimal number of four digits or more (0x80004005).
_CODE = re.compile(r"0x[0-9a-f]{4,}|([a-z]{1,8})[-_.]?(\d{3,})", re.IGNORECASE)

# Articles and pronouns elided before a vowel: l'OF, qu'il, jusqu'à.
_ELIDED = frozenset({"c", "d", "j", "l", "m", "n", "s", "t", "qu", "jusqu", "lorsqu", "puisqu", "quoiqu"})

# The kind of a capitalised stop word, kept until the synonym table decides whether it is an
# abbreviation of its own (CA, chiffre d'affaires) or a word to drop (LE, DE in a capitalised title).
_UPPER_STOP = "upper-stop"

_TERM = attrgetter("term")
_KIND = attrgetter("kind")

# Suffixes removed from singular word forms, longest first: (suffix, replacement, minimum stem length).
# The list is short on purpose: it joins the forms a key user types for one ERP notion (valider,
# validé, validation) without the deep conflations of a full stemmer.
_SUFFIXES = (
    ("abilite", "", 3), ("ibilite", "", 3), ("issement", "", 3), ("atrice", "", 3),
    ("ement", "", 3), ("ation", "", 3), ("ateur", "", 3), ("ature", "", 3), ("aison", "", 3),
    ("ition", "", 3), ("euse", "eur", 3), ("ique", "", 3), ("isme", "", 3), ("iste", "", 3),
    ("able", "", 3), ("ible", "", 3), ("ance", "", 3), ("ence", "", 3),
    ("eur", "", 3), ("ite", "", 3), ("ive", "if", 3), ("ant", "", 4), ("ent", "", 4),
    ("ee", "", 3), ("er", "", 3), ("ez", "", 3), ("ir", "i", 3), ("e", "", 3),
)


class SynonymError(ValueError):
    """An invalid line of a synonym list. `line` is its 1-based number."""

    def __init__(self, line, message):
        super().__init__(f"line {line}: {message}")
        self.line = line


class Token(NamedTuple):
    """One index term with its kind and, for words, the folded word it came from."""

    term: str
    kind: str
    surface: str = ""


def fold(text):
    """Return `text` in NFKC form, case-folded, with its accents and ligatures (œ, æ) removed."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("œ", "oe").replace("æ", "ae")
    return "".join(char for char in unicodedata.normalize("NFD", text) if not unicodedata.combining(char))


@lru_cache(maxsize=65536)
def stem(word):
    """Return the light stem of a folded word: plural, feminine and common verb endings removed."""
    if len(word) < 4 or not word.isalpha():
        return word

    if word.endswith("aux"):
        word = word[:-3] + "al"
    elif word.endswith("x") and word[-3:-1] in ("eu", "ou"):
        word = word[:-1]
    elif word.endswith("s") and not word.endswith(("ss", "us")) and (word.endswith("ais") or not word.endswith("is")):
        # Words in -is and -us are mostly singular (devis, avis, refus), but délais is a plural.
        word = word[:-1]

    for suffix, replacement, min_stem in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= min_stem:
            word = word[: len(word) - len(suffix)] + replacement
            break
    if len(word) > 4 and word[-1] == word[-2] and word[-1] in "lnt":
        word = word[:-1]  # appell(er) and appel, abonn(é) and abonn(ement) join
    return word


def _normalise(text):
    """Return `text` in NFKC form with straight apostrophes."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text)
    for apostrophe in _APOSTROPHES:
        text = text.replace(apostrophe, "'")
    return text


def _split_raw(raw):
    """Return (code match, None) for an error code, else (None, its words without the elision)."""
    code = _CODE.fullmatch(raw)
    if code is not None:
        return code, None
    head, apostrophe, rest = raw.partition("'")
    if apostrophe and rest and head.lower() in _ELIDED:
        return _split_raw(rest)
    return None, _PART.findall(raw)


@lru_cache(maxsize=131072)
def _raw_entries(raw):
    """Return the Tokens of one raw token: its code, or its words without the plain stop words.

    A Token is shared by every occurrence of its raw token, which keeps indexing fast.
    """
    code, words = _split_raw(raw)
    if code is not None:
        if code.group(1) is None:
            canonical = code.group(0).lower()
            return (Token(CODE_PREFIX + canonical, CODE, canonical),)
        canonical = (code.group(1) + code.group(2)).lower()
        return Token(CODE_PREFIX + canonical, CODE, canonical), Token(code.group(2), NUMBER, code.group(2))

    tokens = []
    for word in words:
        folded = fold(word)
        if len(folded) < 2:
            continue
        if folded.isdigit():
            tokens.append(Token(folded, NUMBER, folded))
        elif folded not in STOP_WORDS:
            tokens.append(Token(stem(folded), WORD, folded))
        elif word.isupper():
            tokens.append(Token(stem(folded), _UPPER_STOP, folded))
    return tuple(tokens)


def _folded_words(text):
    """Return the folded words of `text` in order, stop words included and codes left out."""
    words = []
    for raw in _RAW_TOKEN.findall(_normalise(text)):
        code, parts = _split_raw(raw)
        if code is None:
            words.extend(fold(part) for part in parts)
    return words


class SynonymTable:
    """Compiled replacements: word sequences (as stems) and the tokens that replace them.

    Built once from the built-in lists and the admin's synonyms, then shared by every analysis.
    """

    def __init__(self, synonyms=None, builtin=True, keep_capitalised=False):
        replacements = dict(_BUILTIN_REPLACEMENTS) if builtin else {}
        replacements.update(_compile(synonyms or {}))
        # Keep every capitalised stop word as a word: the admin wrote "... = CA" on purpose.
        self._keep_capitalised = keep_capitalised

        self._by_first = {}  # first stem -> [(key stems, replacement tokens)], longest key first
        self._single_keys = set()  # one-word keys, which match even when they are stop words (CA)
        for key, replacement in replacements.items():
            self._by_first.setdefault(key[0], []).append((key, replacement))
            if len(key) == 1:
                self._single_keys.add(key[0])
        for candidates in self._by_first.values():
            candidates.sort(key=lambda candidate: -len(candidate[0]))

    def tokens(self, text):
        """Return the Tokens of `text`, with synonyms and SMS forms replaced."""
        content = list(chain.from_iterable(map(_raw_entries, _RAW_TOKEN.findall(_normalise(text)))))
        if _UPPER_STOP in set(map(_KIND, content)):
            content = [
                Token(token.term, WORD, token.surface) if token.kind == _UPPER_STOP else token
                for token in content
                if token.kind != _UPPER_STOP or self._keep_capitalised or token.term in self._single_keys
            ]
        if self._by_first.keys().isdisjoint(map(_TERM, content)):
            return content

        tokens, done = [], 0
        starts = [position for position, term in enumerate(map(_TERM, content)) if term in self._by_first]
        for start in starts:
            if start < done:
                continue  # inside the previous match
            matched = self._match(content, start)
            if matched is not None:
                length, replacement = matched
                tokens.extend(content[done:start])
                tokens.extend(replacement)
                done = start + length
        tokens.extend(content[done:])
        return tokens

    def _match(self, content, start):
        """Return (length, replacement tokens) of the longest key at `start`, or None.

        Keys are made of words and numbers, so they never match inside an error code.
        """
        if content[start].kind == CODE:
            return None
        for key, replacement in self._by_first.get(content[start].term, ()):
            end = start + len(key)
            if end <= len(content) and all(
                content[start + offset].term == key[offset] and content[start + offset].kind != CODE
                for offset in range(len(key))
            ):
                return len(key), replacement
        return None


def _compile(synonyms):
    """Return {key stems: replacement tokens} for {form: [meaning, ...]}."""
    replacements = {}
    for form, meanings in synonyms.items():
        key = _key_stems(form)
        if key:
            tokens = [token for meaning in meanings for token in _PLAIN.tokens(meaning)]
            replacements[key] = tuple(Token(token.term, EXPANSION) for token in tokens)
    return replacements


def _key_stems(form):
    """Return the stems that a synonym's form matches.

    Stop words inside a several-word form are dropped as in the text it is matched against. A
    one-word form keeps its word even when it is a stop word, so that "CA" (chiffre d'affaires)
    differs from "ça". Such a form matches only where the text writes it in capitals.
    """
    words = [word for word in _folded_words(form) if len(word) > 1]
    if len(words) == 1:
        return (stem(words[0]),)
    return tuple(stem(word) for word in words if word not in STOP_WORDS and len(word) > 1)


def parse_synonyms(text_or_rows):
    """Parse a synonym list into {form: [meaning, ...]}, or raise SynonymError naming the line.

    `text_or_rows` is the admin's text (one entry a line), an iterable of such lines, an iterable
    of (forms, meanings) pairs, or a dict from forms to meanings. An entry reads
    "BL = bon de livraison": the forms on the left, separated by commas, are replaced by every
    meaning on the right, also separated by commas ("CBN, MRP = calcul des besoins"). An empty
    right side drops the forms ("cordialement ="). Blank lines and lines starting with # are
    ignored.
    """
    if isinstance(text_or_rows, str):
        rows = text_or_rows.splitlines()
    elif isinstance(text_or_rows, dict):
        rows = list(text_or_rows.items())
    else:
        rows = list(text_or_rows)

    synonyms = {}
    for number, row in enumerate(rows, start=1):
        if isinstance(row, str):
            line = row.strip()
            if not line or line.startswith("#"):
                continue
            if "=" not in line:
                raise SynonymError(number, f"{line[:60]!r} has no '='; write e.g. 'BL = bon de livraison'")
            left, right = line.split("=", 1)
            forms, meanings = _split_list(left), _split_list(right)
        elif isinstance(row, (tuple, list)) and len(row) == 2:
            left, right = row
            forms = _split_list(left) if isinstance(left, str) else [str(form).strip() for form in left]
            meanings = _split_list(right) if isinstance(right, str) else [str(meaning).strip() for meaning in right]
        else:
            raise SynonymError(number, f"expected a line 'forms = meanings' or a (forms, meanings) pair, got {row!r:.60}")

        forms = [form for form in forms if form]
        if not forms:
            raise SynonymError(number, "nothing on the left of '='; write the abbreviation first, e.g. 'BL = bon de livraison'")
        for form in forms:
            if not _key_stems(form):
                raise SynonymError(number, f"{form!r} contains no word of two letters or more to match")
            synonyms[form] = [meaning for meaning in meanings if meaning]
    return synonyms


def _split_list(text):
    return [part.strip() for part in text.split(",")]


def analyze(text, synonyms=None):
    """Return the index terms of `text`, in order, with repeats.

    `synonyms` is the admin's list as parse_synonyms returns it. It extends the built-in SMS forms
    and domain abbreviations, and None means the built-in ones only.
    """
    table = _DEFAULT_TABLE if not synonyms else SynonymTable(synonyms)
    return [token.term for token in table.tokens(text)]


def error_codes(text):
    """Return the error codes of `text`, canonical (lower case, no separator), in order."""
    return [token.surface for token in _PLAIN.tokens(text) if token.kind == CODE]


_BUILTIN_REPLACEMENTS = {}
_PLAIN = SynonymTable(builtin=False, keep_capitalised=True)  # reads synonym meanings, not expanded again
_BUILTIN_REPLACEMENTS = _compile(parse_synonyms(BUILTIN_SYNONYMS_TEXT))
_DEFAULT_TABLE = SynonymTable()
