"""Comment and description bodies shown as Jira Cloud shows them: wiki markup rendered as HTML.

The site stores bodies as REST v2 wiki strings. Jira Cloud renders those through its wiki
renderer, so an app that escapes markup (`CTR\\-2026\\-001`, `Merci \\!`) shows plain characters.
This module renders the part of the notation that apps and people commonly write, following
Atlassian's "Text Formatting Notation Help"
(https://jira.atlassian.com/secure/WikiRendererHelpAction.jspa?section=all):

- a backslash before one of ESCAPABLE shows that character, and two backslashes break the line;
- `{noformat}` and `{code}` blocks show their content as it is, in a preformatted block;
- `h1.` to `h6.` headings, `bq.` quotes, `----` rulers, and lists opened by `*`, `#` or `- `;
- `*strong*`, `_emphasis_`, `??citation??`, `-deleted-`, `+inserted+`, `^superscript^`,
  `~subscript~` and `{{monospaced}}`;
- bare http(s), ftp and mailto URLs, `[label|url]` links and `[~accountid:…]` mentions.

Everything else stays text. Every piece of text is HTML-escaped, and only http(s), ftp and mailto
URLs become links, so a body never injects HTML into the page.

NOTE: bodies sent in ADF (REST v3) are stored as their plain text, so the rare text that looks like
markup (`*a*`) is rendered as markup here, where Jira Cloud would show it as typed.
"""

import re

from markupsafe import Markup, escape

from .pages_common import bp, display_name

# The characters a preceding backslash shows as themselves (the escapes Jira's renderer reads).
ESCAPABLE = frozenset("-#*_+?^~|%{}[]()!@")

_VERBATIM = re.compile(r"\{(noformat|code)(?::[^{}\n]*)?\}(.*?)\{\1\}", re.DOTALL)
_HEADING = re.compile(r"h([1-6])\.\s+(.*)")
_QUOTE = re.compile(r"bq\.\s+(.*)")
_LIST_ITEM = re.compile(r"([*#]+|-)\s+(.*)")
_RULER = re.compile(r"-{4,5}")
_URL = re.compile(r"(?:https?://|ftp://|mailto:)[^\s<>\"\[\]|]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?)'"
_LINK_SCHEMES = ("http://", "https://", "ftp://", "mailto:")
# Format marks and the element each one renders, longest mark first.
_MARKS = (("??", "cite"), ("*", "strong"), ("_", "em"), ("-", "del"), ("+", "ins"), ("^", "sup"),
          ("~", "sub"))


def render_wiki(body):
    """Render a wiki-markup body as safe HTML (Markup)."""
    text = (body or "").replace("\r\n", "\n").replace("\r", "\n")
    parts = []
    position = 0
    for block in _VERBATIM.finditer(text):
        parts.append(_blocks(text[position:block.start()]))
        content = block.group(2).removeprefix("\n").removesuffix("\n")
        parts.append(Markup("<pre>{}</pre>").format(content))
        position = block.end()
    parts.append(_blocks(text[position:]))
    return Markup("").join(parts)


@bp.app_template_filter("wiki")
def wiki_filter(body):
    return render_wiki(body)


# Blocks.

def _blocks(text):
    """Render the lines between verbatim blocks: paragraphs, headings, quotes, lists and rulers.

    Consecutive text lines form one paragraph with line breaks; a blank line ends it.
    """
    out = []
    paragraph = []
    items = []

    def end_paragraph():
        if paragraph:
            out.append(Markup("<p>{}</p>").format(Markup("<br>").join(_inline(line) for line in paragraph)))
            paragraph.clear()

    def end_list():
        if items:
            out.append(_list(items))
            items.clear()

    for line in text.split("\n"):
        stripped = line.strip()
        item = _LIST_ITEM.fullmatch(stripped)
        if item:
            end_paragraph()
            items.append((item.group(1), item.group(2)))
            continue
        end_list()
        heading = _HEADING.fullmatch(stripped)
        quote = _QUOTE.fullmatch(stripped)
        if stripped and not (heading or quote or _RULER.fullmatch(stripped)):
            paragraph.append(line)
            continue
        end_paragraph()
        if heading:
            out.append(Markup("<h{0} class=\"wiki-heading\">{1}</h{0}>").format(
                min(int(heading.group(1)) + 2, 6), _inline(heading.group(2))))
        elif quote:
            out.append(Markup("<blockquote>{}</blockquote>").format(_inline(quote.group(1))))
        elif stripped:
            out.append(Markup("<hr>"))
    end_paragraph()
    end_list()
    return Markup("").join(out)


def _list(items):
    """Render consecutive list lines as nested lists: each mark character is one level, `#` numbers."""
    out = []
    open_tags = []
    for marks, content in items:
        kinds = ["ol" if mark == "#" else "ul" for mark in marks]
        while len(open_tags) > len(kinds) or (open_tags and open_tags != kinds[:len(open_tags)]):
            out.append(Markup("</li></{}>").format(Markup(open_tags.pop())))
        if len(open_tags) == len(kinds):
            out.append(Markup("</li>"))
        while len(open_tags) < len(kinds):
            kind = kinds[len(open_tags)]
            out.append(Markup("<{}>").format(Markup(kind)))
            open_tags.append(kind)
        out.append(Markup("<li>{}").format(_inline(content)))
    while open_tags:
        out.append(Markup("</li></{}>").format(Markup(open_tags.pop())))
    return Markup("").join(out)


# Inline markup.

def _inline(text):
    """Render one line of inline markup."""
    out = []
    index = 0
    while index < len(text):
        consumed = _token(text, index, out)
        if consumed:
            index += consumed
        else:
            out.append(escape(text[index]))
            index += 1
    return Markup("").join(out)


def _token(text, index, out):
    """Append the rendering of the construct at `index` to `out`; return its length, or 0 for none."""
    char = text[index]
    following = text[index + 1:index + 2]
    if char == "\\" and following == "\\":
        out.append(Markup("<br>"))
        return 2
    if char == "\\" and following in ESCAPABLE and following:
        out.append(escape(following))
        return 2
    if char.lower() in "hfm" and _starts_word(text, index):
        url = _url_at(text, index)
        if url:
            # Jira shows a mailto link by its address alone.
            shown = url[len("mailto:"):] if url.lower().startswith("mailto:") else url
            out.append(Markup('<a href="{}" rel="nofollow noopener">{}</a>').format(url, shown))
            return len(url)
    if char == "[":
        return _bracket(text, index, out)
    if text.startswith("{{", index):
        close = text.find("}}", index + 2)
        if close > index + 2:
            out.append(Markup("<code>{}</code>").format(_unescape(text[index + 2:close])))
            return close + 2 - index
    return _formatted(text, index, out)


def _starts_word(text, index):
    return index == 0 or not text[index - 1].isalnum()


def _url_at(text, index):
    match = _URL.match(text, index)
    if not match:
        return ""
    return match.group(0).rstrip(_URL_TRAILING)


def _bracket(text, index, out):
    """Render `[~accountid:…]` mentions and `[label|url]` or `[url]` links; return the length used."""
    close = text.find("]", index + 1)
    if close == -1 or "\n" in text[index:close]:
        return 0
    inside = text[index + 1:close]
    if inside.startswith("~"):
        account_id = inside[1:].removeprefix("accountid:")
        out.append(Markup('<span class="mention">@{}</span>').format(display_name(account_id)))
        return close + 1 - index
    label, _, target = inside.rpartition("|")
    target = target.strip()
    if not target.lower().startswith(_LINK_SCHEMES):
        return 0
    shown = _inline(label) if label.strip() else escape(target)
    out.append(Markup('<a href="{}" rel="nofollow noopener">{}</a>').format(target, shown))
    return close + 1 - index


def _formatted(text, index, out):
    """Render a pair of format marks around text (`*strong*`); return the length used, or 0.

    As in Jira, a mark opens only at the start of the text or after a character that is not a
    letter or digit, and before a character that is not a space. It closes after a non-space, at
    the end of the text or before a character that is not a letter or digit.
    """
    for mark, tag in _MARKS:
        if not text.startswith(mark, index):
            continue
        start = index + len(mark)
        if not _starts_word(text, index) or start >= len(text) or text[start].isspace():
            return 0
        close = text.find(mark, start + 1)
        while close != -1:
            after = text[close + len(mark):close + len(mark) + 1]
            if not text[close - 1].isspace() and text[close - 1] != "\\" and not after.isalnum():
                out.append(Markup("<{0}>{1}</{0}>").format(Markup(tag), _inline(text[start:close])))
                return close + len(mark) - index
            close = text.find(mark, close + 1)
        return 0
    return 0


def _unescape(text):
    """Return `text` with each backslash escape replaced by the character it shows."""
    return re.sub(r"\\([-#*_+?^~|%{}\[\]()!@])", r"\1", text)
