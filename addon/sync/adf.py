"""Atlassian Document Format (REST v3 and webhook comment bodies) rendered as display text.

Blocks are separated by a blank line, `hardBreak` becomes a newline, and every node type this
module does not know renders as the text of its children, so a new Jira node type never raises.
"""

import datetime

MEDIA_PLACEHOLDER = "[pièce jointe]"
# Deeper documents are cut there rather than risking a RecursionError on a hostile body.
MAX_DEPTH = 64

_INLINE_TYPES = frozenset({
    "text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status", "mediaInline",
    "placeholder", "inlineExtension",
})


def from_adf(doc, users=None):
    """Return the display text of an ADF document; mentions are looked up in `users`."""
    if not isinstance(doc, dict):
        return ""
    return _render(doc, users or {}, 0)


def _render(node, users, depth):
    if not isinstance(node, dict) or depth > MAX_DEPTH:
        return ""
    kind = node.get("type")
    attrs = node.get("attrs") if isinstance(node.get("attrs"), dict) else {}
    render = _RENDERERS.get(kind)
    if render is not None:
        return render(node, attrs, users, depth)
    return _children(node, users, depth) or _text_attr(attrs, "text")


def _children(node, users, depth, block_separator="\n\n"):
    """Render the children: inline ones are concatenated, block ones separated."""
    content = node.get("content")
    if not isinstance(content, list):
        return ""
    pieces = []
    inline = []
    for child in content:
        if isinstance(child, dict) and child.get("type") in _INLINE_TYPES:
            inline.append(_render(child, users, depth + 1))
            continue
        if inline:
            pieces.append("".join(inline))
            inline = []
        pieces.append(_render(child, users, depth + 1))
    if inline:
        pieces.append("".join(inline))
    return block_separator.join(pieces)


def _text_attr(attrs, name):
    value = attrs.get(name)
    return value if isinstance(value, str) else ""


def _text(node, attrs, users, depth):
    text = node.get("text") if isinstance(node.get("text"), str) else ""
    for mark in node.get("marks") or []:
        if isinstance(mark, dict) and mark.get("type") == "link":
            href = _text_attr(mark.get("attrs") or {}, "href")
            if href and href != text:
                return f"{text} ({href})" if text else href
    return text


def _mention(node, attrs, users, depth):
    name = users.get(attrs.get("id")) or _text_attr(attrs, "text").lstrip("@")
    return "@" + (name or "utilisateur")


def _emoji(node, attrs, users, depth):
    return _text_attr(attrs, "text") or _text_attr(attrs, "shortName")


def _card(node, attrs, users, depth):
    return _text_attr(attrs, "url")


def _date(node, attrs, users, depth):
    try:
        moment = datetime.datetime.fromtimestamp(int(attrs.get("timestamp")) / 1000, datetime.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return ""
    return moment.date().isoformat()


def _media(node, attrs, users, depth):
    name = _text_attr(attrs, "alt") or _text_attr(attrs, "__fileName")
    return f"[pièce jointe : {name}]" if name else MEDIA_PLACEHOLDER


def _media_group(node, attrs, users, depth):
    return _children(node, users, depth, block_separator="\n")


def _list(node, attrs, users, depth):
    ordered = node.get("type") == "orderedList"
    number = attrs.get("order") if isinstance(attrs.get("order"), int) else 1
    lines = []
    for item in node.get("content") or []:
        bullet = f"{number}. " if ordered else "- "
        number += 1
        body = _render(item, users, depth + 1).replace("\n\n", "\n")
        lines.append(bullet + body.replace("\n", "\n  "))
    return "\n".join(lines)


def _task_item(node, attrs, users, depth):
    box = "☑ " if attrs.get("state") == "DONE" else "☐ "
    return box + _children(node, users, depth)


def _table(node, attrs, users, depth):
    rows = []
    for row in node.get("content") or []:
        if not isinstance(row, dict):
            continue
        cells = [
            _render(cell, users, depth + 2).replace("\n", " ")
            for cell in row.get("content") or []
        ]
        rows.append(" | ".join(cells))
    return "\n".join(rows)


def _titled(node, attrs, users, depth):
    title = _text_attr(attrs, "title")
    body = _children(node, users, depth)
    return f"{title}\n{body}" if title else body


def _lines(node, attrs, users, depth):
    return _children(node, users, depth, block_separator="\n")


_RENDERERS = {
    "text": _text,
    "hardBreak": lambda node, attrs, users, depth: "\n",
    "mention": _mention,
    "emoji": _emoji,
    "inlineCard": _card,
    "blockCard": _card,
    "embedCard": _card,
    "date": _date,
    "status": lambda node, attrs, users, depth: _text_attr(attrs, "text"),
    "media": _media,
    "mediaInline": _media,
    "mediaGroup": _media_group,
    "bulletList": _list,
    "orderedList": _list,
    "taskList": _lines,
    "taskItem": _task_item,
    "decisionList": _lines,
    "decisionItem": lambda node, attrs, users, depth: "- " + _children(node, users, depth),
    "table": _table,
    "expand": _titled,
    "nestedExpand": _titled,
    "rule": lambda node, attrs, users, depth: "---",
}
