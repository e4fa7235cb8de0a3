"""Jira wiki markup (REST v2 comment bodies) rendered as display text.

The escaping rules here follow Atlassian's wiki-to-ADF parser, which Jira Cloud uses to read v2
bodies (npm package @atlaskit/editor-wikimarkup-transformer 12.2.2): a backslash makes any of
`ESCAPABLE` literal, two backslashes force a line break, bare http(s)/ftp(s)/irc URLs and mailto:
become links, and `:)`-style emoticons become emoji.
"""

import re

# Characters that a preceding backslash turns into literal text.
ESCAPABLE = frozenset("-#*_+?^~|%{}[]()!@")

URL_KEYWORDS = ("http", "ftp", "irc", "mailto")
_URL = re.compile(
    r"(?:(?:https?|ftps?)://|irc://|mailto:)"
    r"[A-Za-z0-9_?!~^/\\#$%&'()*+,\-.:;<=@]*[A-Za-z0-9_~^/\\#$%&'()*+,\-:;<=@]",
    re.IGNORECASE,
)
_URL_BAD_END = re.compile(r"[.,>)\];}\"'!]*$")

# Wiki emoticons with the emoji Jira shows for them. The parser tries the shortest key first and
# accepts it only when the next character is not an ASCII letter or digit.
EMOTICONS = {
    ":)": "🙂", ":-)": "🙂", ":(": "😞", ":-(": "😞",
    ":P": "😛", ":-P": "😛", ":p": "😛", ":-p": "😛", ":D": "😃", ":-D": "😃",
    ";)": "😉", ";-)": "😉", "(y)": "👍", "(n)": "👎", "(i)": "ℹ️", "(/)": "✅",
    "(x)": "❌", "(!)": "⚠️", "(+)": "➕", "(-)": "➖", "(?)": "❓", "(on)": "💡",
    "(off)": "💡", "(*)": "⭐", "(*y)": "⭐", "(*r)": "⭐", "(*g)": "⭐", "(*b)": "⭐",
    "(flag)": "🚩", "(flagoff)": "🏳️",
}
_EMOTICON_LENGTHS = sorted({len(key) for key in EMOTICONS})

# Jira reads the opening tag in any letter case but closes the block only at the same spelling.
_VERBATIM_OPENING = re.compile(r"(?<!\\)\{(noformat|code)(?::[^{}\n]*)?\}", re.IGNORECASE)
_CONTAINER_TAG = re.compile(r"(?<!\\)\{(?:quote|panel|color|anchor)(?::[^{}\n]*)?\}\n?", re.IGNORECASE)
_HEADING = re.compile(r"[ \t]*(?:h[1-6]|bq)\.[ \t]?")
_LIST_ITEM = re.compile(r"[ \t]*([*#]+|-) ")
_RULER = re.compile(r"[ \t]*-{4,5}[ \t]*")
_MENTION = re.compile(r"\[~(accountid:)?([^\]\n]+)\]")
_LINK = re.compile(r"\[([^\]\n]*)\]")
_MEDIA = re.compile(r"!([^!\s|][^!|\n]*?)(?:\|[^!\n]*)?!")
_FORMAT_MARKS = ("??", "*", "_", "-", "+", "^", "~")


def url_span_end(text, start):
    """Return where the link Jira's parser reads at `start` ends, or 0 when none starts there.

    The parser only looks for links where a lowercase keyword starts, then strips trailing
    punctuation such as `.`, `,` or `)` from the match.
    """
    if not text.startswith(URL_KEYWORDS, start):
        return 0
    match = _URL.match(text, start)
    if not match:
        return 0
    trimmed = _URL_BAD_END.sub("", match.group(0), count=1)
    return start + len(trimmed)


def emoticon_at(text, start):
    """Return the emoticon key that Jira's parser reads at `start`, or None."""
    for length in _EMOTICON_LENGTHS:
        key = text[start:start + length]
        if len(key) < length:
            return None
        following = text[start + length:start + length + 1]
        if key in EMOTICONS and not (following.isascii() and following.isalnum()):
            return key
    return None


def from_wiki(body, users=None):
    """Strip wiki markup from a v2 comment body and return its display text.

    `{noformat}` and `{code}` contents stay verbatim (one newline after the opening tag and
    before the closing one is dropped), escaped characters lose their backslash, mentions become
    "@Display Name" looked up in `users` (accountId → display name).
    """
    if not isinstance(body, str):
        return ""
    body = body.replace("\r\n", "\n").replace("\r", "\n")
    users = users or {}

    parts = []
    position = 0
    while opening := _VERBATIM_OPENING.search(body, position):
        closing_tag = "{" + opening.group(1) + "}"
        closing = body.find(closing_tag, opening.end())
        if closing == -1:
            closing = len(body)
        parts.append(_blocks(body[position:opening.start()], users))
        parts.append(_strip_one_newline(body[opening.end():closing]))
        position = min(closing + len(closing_tag), len(body))
    parts.append(_blocks(body[position:], users))
    return "".join(parts)


def _strip_one_newline(content):
    if content.startswith("\n"):
        content = content[1:]
    if content.endswith("\n"):
        content = content[:-1]
    return content


def _blocks(text, users):
    """Render the lines of a wiki fragment: headings, quotes, lists, tables, rulers, then inline."""
    text = _CONTAINER_TAG.sub("", text)
    lines = []
    counters = []
    for line in text.split("\n"):
        item = _LIST_ITEM.match(line)
        if not item:
            counters = []
        if _RULER.fullmatch(line):
            lines.append("---")
        elif heading := _HEADING.match(line):
            lines.append(_inline(line[heading.end():], users))
        elif item:
            lines.append(_list_line(item, line, counters, users))
        elif line.lstrip(" \t").startswith("|"):
            lines.append(_table_row(line.strip(" \t"), users))
        else:
            lines.append(_inline(line, users))
    return "\n".join(lines)


def _list_line(item, line, counters, users):
    marks = item.group(1)
    depth = len(marks) if marks != "-" else 1
    ordered = marks.endswith("#")
    del counters[depth:]
    while len(counters) < depth:
        counters.append([ordered, 0])
    if counters[depth - 1][0] != ordered:  # a bullet list and a numbered list follow each other
        counters[depth - 1] = [ordered, 0]
    counters[depth - 1][1] += 1
    bullet = f"{counters[depth - 1][1]}. " if ordered else "- "
    return "  " * (depth - 1) + bullet + _inline(line[item.end():], users)


def _table_row(line, users):
    cells = re.split(r"\|\|?(?![^\[]*\])", line.strip("|"))
    return " | ".join(_inline(cell.strip(), users) for cell in cells)


def _inline(text, users):
    """Render one line of inline wiki markup as text."""
    out = []
    index = 0
    while index < len(text):
        consumed = _inline_token(text, index, users, out)
        if consumed:
            index += consumed
            continue
        out.append(text[index])
        index += 1
    return "".join(out)


def _inline_token(text, index, users, out):
    """Append the rendering of the construct starting at `index`; return its length or 0."""
    char = text[index]
    if char == "\\":
        following = text[index + 1:index + 2]
        if following == "\\":
            out.append("\n")
        elif following in ESCAPABLE and following:
            out.append(following)
        else:
            out.append(text[index:index + 2])
        return max(len(following) + 1, 1)

    url_end = url_span_end(text, index)
    if url_end:
        out.append(text[index:url_end])
        return url_end - index

    if char == "[":
        return _bracket(text, index, users, out)
    if char == "!" and (media := _MEDIA.match(text, index)):
        out.append(f"[pièce jointe : {media.group(1).strip()}]")
        return media.end() - index
    if char in ":;(" and (key := emoticon_at(text, index)):
        out.append(EMOTICONS[key])
        return len(key)
    if text.startswith("{{", index):
        close = text.find("}}", index + 2)
        if close > index + 2:
            out.append(text[index + 2:close])
            return close + 2 - index
    return _formatted(text, index, users, out)


def _bracket(text, index, users, out):
    mention = _MENTION.match(text, index)
    if mention:
        # An unknown accountId means nothing to a reader, but a legacy `[~username]` does.
        key = mention.group(2).strip()
        fallback = "utilisateur" if mention.group(1) else key
        out.append("@" + (users.get(key) or fallback))
        return mention.end() - index
    link = _LINK.match(text, index)
    if not link or not link.group(1).strip():
        return 0
    label, _, target = link.group(1).rpartition("|")
    target = target.strip()
    if target.startswith("^"):
        out.append(f"[pièce jointe : {target[1:]}]")
    elif label and label.strip() != target:
        out.append(f"{_inline(label, users)} ({target})")
    else:
        out.append(target)
    return link.end() - index


def _formatted(text, index, users, out):
    """Drop a pair of format marks (`*bold*`, `_em_`, `??cite??`…) around non-blank content."""
    mark = next((m for m in _FORMAT_MARKS if text.startswith(m, index)), None)
    if mark is None:
        return 0
    if index > 0 and _word_like(text[index - 1]):
        return 0
    start = index + len(mark)
    if text[start:start + 1] in ("", " "):
        return 0
    close = text.find(mark, start + 1)
    while close != -1:
        after = text[close + len(mark):close + len(mark) + 1]
        if text[close - 1] not in "\\ " and not (after and _word_like(after)):
            out.append(_inline(text[start:close], users))
            return close + len(mark) - index
        close = text.find(mark, close + 1)
    return 0


def _word_like(char):
    """Tell whether `char` glues to a format mark: Jira ignores marks next to letters or digits."""
    if char == "\u00a0":
        return False
    return not char.isascii() or char.isalnum()
