"""Chat text to and from Jira comment bodies.

What a chat user types is posted as literal text: a wiki string for REST v2 (`to_wiki_literal`)
or an ADF document for REST v3 (`to_adf_literal`). Comment bodies coming from Jira become plain
display text (`from_jira_body`) that the templates escape. Everything here is pure.
"""

import re
import unicodedata

from babel.numbers import format_decimal

from addon.sync.adf import from_adf
from addon.sync.wiki import URL_KEYWORDS, from_wiki, url_span_end

__all__ = [
    "JIRA_COMMENT_MAX_CHARS", "MAX_MESSAGE_CHARS", "COMMENT_PART_MAX_CHARS", "from_adf",
    "from_jira_body", "from_wiki", "normalize_text", "split_message", "to_adf_literal",
    "to_wiki_literal", "validate_message",
]

# Jira rejects a longer comment with "It exceeds the allowed limit of 32767 characters" (the
# jira.text.field.character.limit default). NOTE: that message was seen on Jira Server; Jira
# Cloud's limit is an estimate taken from it. Jira counts Java chars, that is UTF-16 code units.
JIRA_COMMENT_MAX_CHARS = 32_767
# Default size of one posted part, leaving room for a header the outbox may add.
COMMENT_PART_MAX_CHARS = 30_000
# Product limit for one chat message, counted in code points after normalisation.
MAX_MESSAGE_CHARS = 10_000

_VERBATIM_TRIGGERS = re.compile(
    r"\\[-#*_+?^~|%{}\[\]()!@\\\n]"  # a backslash that Jira would eat or turn into a line break
    r"|:[DPp](?![A-Za-z0-9])"  # emoticons made only of characters that cannot be escaped
    r"|\n[ \t]|\n\n\n"  # indentation and extra blank lines, which Jira drops
    r"|(?:^|\n)[ \t]*(?:h[1-6]|bq)\."  # heading and quote prefixes, which cannot be escaped
    r"|mailto:"  # Jira shows a mailto link without its "mailto:"
)
# Characters that start markup anywhere, so they are always escaped. `)`, `?`, `#` and `|` start
# markup only in some places (see _escaped_char). Escaping them elsewhere would glue a backslash
# to a URL that they follow.
_ALWAYS_ESCAPED = frozenset("*_+^~-{[!(")


def normalize_text(text):
    """Convert CRLF and CR line endings to LF and the text to Unicode NFC."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text)


def validate_message(text):
    """Check one chat message and return it normalised; raise ValueError naming the failed check."""
    if not isinstance(text, str):
        raise ValueError("Le message doit être du texte. / The message must be text.")
    text = normalize_text(text)
    if not text.strip():
        raise ValueError(
            "Le message est vide. Saisissez un texte avant d'envoyer. "
            "/ The message is empty. Type some text before sending."
        )

    if len(text) > MAX_MESSAGE_CHARS:
        raise ValueError(
            f"Le message dépasse {format_decimal(MAX_MESSAGE_CHARS, locale='fr_FR')} caractères "
            f"({format_decimal(len(text), locale='fr_FR')}). Raccourcissez-le ou joignez un fichier. "
            f"/ The message exceeds {MAX_MESSAGE_CHARS:,} characters ({len(text):,}). "
            "Shorten it or attach a file."
        )

    for position, char in enumerate(text, start=1):
        if char not in "\t\n" and unicodedata.category(char) in ("Cc", "Cs"):
            code = f"U+{ord(char):04X}"
            raise ValueError(
                f"Le message contient un caractère de contrôle interdit ({code}, position {position}). "
                "Retirez-le puis renvoyez le message. "
                f"/ The message contains a forbidden control character ({code} at position "
                f"{position}). Remove it and send the message again."
            )
    return text


def to_adf_literal(text):
    """Build an ADF document showing `text` literally: paragraphs, hardBreaks and unmarked text.

    Blocks are split on each blank line ("\\n\\n"), so extra blank lines become empty paragraphs
    and nothing is lost.
    """
    content = []
    for block in normalize_text(text).split("\n\n"):
        inline = []
        for number, line in enumerate(block.split("\n")):
            if number:
                inline.append({"type": "hardBreak"})
            if line:
                inline.append({"type": "text", "text": line})
        content.append({"type": "paragraph", "content": inline})
    return {"type": "doc", "version": 1, "content": content}


def to_wiki_literal(text):
    """Build a v2 wiki string that Jira shows as exactly `text`.

    Each character that could start markup gets a backslash, and bare URLs stay links. Text that
    escaping cannot protect (see `_VERBATIM_TRIGGERS`) is wrapped in a `{noformat}` block instead.
    Jira drops leading and trailing whitespace of the whole message in both forms.
    """
    text = normalize_text(text)
    if not _VERBATIM_TRIGGERS.search(text):
        escaped = _escape(text)
        if escaped is not None:
            return escaped
    return _verbatim(text)


def _verbatim(text):
    # The closing tag must be spelled like the opening one, so pick a spelling absent from the
    # text. NOTE: case variants of {noformat} are read that way by Atlassian's JavaScript parser;
    # they are only reached when the text contains both "{noformat}" and "{code}".
    for name in ("noformat", "code", "NOFORMAT", "Noformat", "CODE", "Code"):
        if "{" + name + "}" not in text:
            return f"{{{name}}}\n{text}\n{{{name}}}"
    raise ValueError(
        "Le message ne peut pas être converti en texte littéral Jira (v2) ; envoyez-le en ADF. "
        "/ The message cannot be converted to literal Jira v2 text; send it as ADF."
    )


def _escape(text):
    """Backslash-escape markup starters; return None when a bare URL would swallow an escape."""
    out = []
    size = 0
    url_checks = []  # (output offset, expected end or 0) wherever Jira's parser tries a link
    after_backslash = False
    line_start = True
    index = 0
    while index < len(text):
        char = text[index]
        if after_backslash or char == "\\":
            # Jira shows a backslash and the next character as they are when that character is
            # not in wiki.ESCAPABLE. _VERBATIM_TRIGGERS has sent every other backslash to _verbatim.
            after_backslash = char == "\\" and not after_backslash
            piece = char
        elif text.startswith(URL_KEYWORDS, index):
            end = url_span_end(text, index)
            if end and not _is_plain_url(text[index:end]):
                return None
            piece = text[index:end] if end else _escaped_char(text, index, line_start)
            url_checks.append((size, size + len(piece) if end else 0))
            index = end - 1 if end else index
        else:
            piece = _escaped_char(text, index, line_start)
        out.append(piece)
        size += len(piece)
        line_start = char == "\n" or (line_start and char in " \t")
        index += 1

    escaped = "".join(out)
    for offset, expected_end in url_checks:
        if url_span_end(escaped, offset) != expected_end:
            return None
    return escaped


def _escaped_char(text, index, line_start):
    char = text[index]
    if char in _ALWAYS_ESCAPED:
        return "\\" + char
    if char == ")" and text[index - 1:index] in (":", ";"):
        return "\\)"
    if char == "?" and text[index + 1:index + 2] == "?":
        return "\\?"
    if char in "#|" and line_start:
        return "\\" + char
    return char


def _is_plain_url(url):
    """Tell whether a browser URL parser surely accepts `url`, which Jira needs to make it a link.

    Only hosts made of ASCII letters, digits, hyphens and dots, or a dotted IPv4 address, pass,
    with an optional numeric port. Other URLs make the caller use `{noformat}`.
    """
    url = re.sub(r"\\(.)", r"\1", url)
    match = re.match(r"(?i)(?:https?|ftps?|irc)://([^/?#\\]*)", url)
    if not match or "@" in match.group(1):
        return False
    host, _, port = match.group(1).partition(":")
    if port and not (port.isascii() and port.isdigit() and int(port) <= 65_535):
        return False
    if not re.fullmatch(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.?", host):
        return False
    labels = host.rstrip(".").split(".")
    if any(label.lower().startswith("xn--") for label in labels):
        return False
    if re.fullmatch(r"(?i)0x[0-9a-f]*|[0-9]+", labels[-1]):
        octet = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
        return re.fullmatch(rf"{octet}(?:\.{octet}){{3}}", host.rstrip(".")) is not None
    return True


def from_jira_body(body, users=None):
    """Return the display text of a comment body: a v2 wiki string or a v3/webhook ADF document."""
    if isinstance(body, str):
        return from_wiki(body, users)
    if isinstance(body, dict):
        return from_adf(body, users)
    return ""


def utf16_length(text):
    """Return the length of `text` in UTF-16 code units, the unit of Jira's limits."""
    return len(text.encode("utf-16-le")) // 2


def split_message(text, limit=COMMENT_PART_MAX_CHARS):
    """Split `text` into parts whose `to_wiki_literal` form fits in `limit` UTF-16 code units.

    Cuts fall on a blank line, else a line break, else a space, else between two graphemes; the
    separator at a cut is dropped. Parts are never empty.
    """
    if limit < 64:
        raise ValueError(f"The part limit must be at least 64 characters, not {limit}.")
    text = normalize_text(text)
    parts = []
    while text:
        if _fits(text, limit):
            parts.append(text)
            break
        cut, skip = _cut(text, limit)
        parts.append(text[:cut])
        text = text[cut + skip:]
    return parts


def _fits(text, limit):
    return utf16_length(to_wiki_literal(text)) <= limit


def _cut(text, limit):
    """Return (cut index, separator length) for the first part of `text`."""
    low, high = 1, min(len(text), limit)
    while low < high:  # largest prefix length that fits
        middle = (low + high + 1) // 2
        if _fits(text[:middle], limit):
            low = middle
        else:
            high = middle - 1
    prefix = text[:low]
    for separator in ("\n\n", "\n", " "):
        position = prefix.rfind(separator)
        if position > low // 2:
            return position, len(separator)
    return _grapheme_boundary(text, low), 0


def _grapheme_boundary(text, index):
    """Move `index` back until it does not split a combining sequence, emoji sequence or flag."""
    start = index
    while index > 1 and not _is_boundary(text, index):
        index -= 1
    return index if index > 1 else start


def _is_boundary(text, index):
    char, previous = text[index], text[index - 1]
    if unicodedata.combining(char) or char in "\u200d\ufe0e\ufe0f" or previous == "\u200d":
        return False
    if "\U0001f3fb" <= char <= "\U0001f3ff":  # skin-tone modifiers
        return False
    if _is_regional(char) and _is_regional(previous):
        run = 0
        while index - run - 1 >= 0 and _is_regional(text[index - run - 1]):
            run += 1
        return run % 2 == 0
    return True


def _is_regional(char):
    return "\U0001f1e6" <= char <= "\U0001f1ff"

