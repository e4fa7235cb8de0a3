"""Chat text to and from Jira comment bodies: escaping, rendering, splitting, validation."""

import random
import unicodedata

import pytest

from addon.sync.comment_text import (
    JIRA_COMMENT_MAX_CHARS,
    MAX_MESSAGE_CHARS,
    from_adf,
    from_jira_body,
    from_wiki,
    normalize_text,
    split_message,
    to_adf_literal,
    to_wiki_literal,
    utf16_length,
    validate_message,
)

NASTY = [
    "*bold* _italic_ -strike- +under+ ^sup^ ~sub~ ??cite??",
    "{{mono}} {code}x = 1{code} {noformat}raw{noformat} {quote}q{quote}",
    "{color:red}rouge{color} {panel:title=T}p{panel} {anchor:a} {loremipsum}",
    "[link|http://example.com] [~accountid:5b10ac8d82e05b22cc7d4ef5] [~bob] !image.png! !a.png|thumbnail!",
    "h1. Titre\nh6. petit\nbq. citation\n  h2. indenté",
    "* puce\n** sous-puce\n# numéro\n- tiret\n----\n---\n--",
    "||en-tête||b||\n|cellule|c|",
    "ligne\\\\forcée \\ seul \\* déjà échappé \\\\\\* C:\\Users\\x\\",
    ":) :-) :( :P :p :D ;) (y) (n) (i) (/) (x) (!) (+) (-) (?) (on) (off) (*) (*r) (flag)",
    "Voir http://example.com/a_b-c?x=1&y=(2). Et https://ex.com!",
    "(cf. https://ex.com/path) mailto:jean@example.com ftp://f.example/x irc://irc.ex",
    "SUP-1 @here 100% #1 a|b a??b ???",
    "Crème brûlée, « guillemets », l'été — déjà vu ; ça va ? oui !",
    "emoji 😀 👍🏽 👨‍👩‍👧 🇫🇷 e\u0301",
    "ligne 1\r\nligne 2\rligne 3\n\n\nparagraphe\n\n",
    "  indenté\n\tavec tabulation\n   ",
    "{noformat} et {code} ensemble avec \\*",
    "",
]
ALPHABET = list("-#*_+?^~|%{}[]()!@\\:;.,'\"<>=&/ \t\n\r") + [
    "http://", "https://ex.com/a_b", "mailto:", "h1.", "bq.", "{noformat}", "{code}", "[~",
    ":D", "(y)", "\r\n", "é", "à", "ç", "É", "œ", "😀", "👍🏽", "e\u0301", "Bonjour", "x", "1",
]


def generated_corpus(seed=20240611, count=1500):
    rng = random.Random(seed)
    return [
        "".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 30)))
        for _ in range(count)
    ]


@pytest.mark.parametrize("text", NASTY)
def test_wiki_round_trip_nasty(text):
    assert from_wiki(to_wiki_literal(text)) == normalize_text(text)


def test_wiki_round_trip_corpus():
    failures = [text for text in generated_corpus() if from_wiki(to_wiki_literal(text)) != normalize_text(text)]
    assert failures == []


def test_wiki_literal_escapes_markup():
    wiki = to_wiki_literal("*gras* [~accountid:abc] !x.png! {code}")
    assert wiki == "\\*gras\\* \\[\\~accountid:abc] \\!x.png\\! \\{code}"


def test_wiki_literal_keeps_line_breaks():
    assert to_wiki_literal("a\r\nb\n\nc") == "a\nb\n\nc"


def test_wiki_literal_keeps_bare_url():
    assert to_wiki_literal("Voir https://ex.com/a_b-c?x=1.") == "Voir https://ex.com/a_b-c?x=1."


def test_wiki_literal_unescapable_uses_noformat():
    assert to_wiki_literal("C:\\dir\\*.txt") == "{noformat}\nC:\\dir\\*.txt\n{noformat}"


def test_wiki_literal_noformat_inside_uses_code():
    wiki = to_wiki_literal("h1. {noformat}")
    assert wiki == "{code}\nh1. {noformat}\n{code}"


def test_wiki_literal_normalizes_nfc():
    assert to_wiki_literal("e\u0301") == "\u00e9"


def test_adf_literal_node_types():
    for text in NASTY + generated_corpus(count=300):
        doc = to_adf_literal(text)
        assert doc["type"] == "doc"
        assert doc["version"] == 1
        for paragraph in doc["content"]:
            assert paragraph["type"] == "paragraph"
            for node in paragraph["content"]:
                assert node["type"] in ("text", "hardBreak")
                assert "marks" not in node
                assert node.get("text", "x") != ""


def test_adf_literal_paragraphs():
    doc = to_adf_literal("a\nb\n\nc")
    assert doc["content"] == [
        {"type": "paragraph", "content": [
            {"type": "text", "text": "a"}, {"type": "hardBreak"}, {"type": "text", "text": "b"},
        ]},
        {"type": "paragraph", "content": [{"type": "text", "text": "c"}]},
    ]


def test_adf_round_trip_corpus():
    failures = [text for text in NASTY + generated_corpus() if from_adf(to_adf_literal(text)) != normalize_text(text)]
    assert failures == []


def paragraph(*nodes):
    return {"type": "paragraph", "content": list(nodes)}


def text(value, *marks):
    node = {"type": "text", "text": value}
    if marks:
        node["marks"] = list(marks)
    return node


def doc(*blocks):
    return {"type": "doc", "version": 1, "content": list(blocks)}


USERS = {"5b10ac8d82e05b22cc7d4ef5": "Camille Martin"}


def test_adf_mention_resolved():
    body = doc(paragraph(
        text("Bonjour "),
        {"type": "mention", "attrs": {"id": "5b10ac8d82e05b22cc7d4ef5", "text": "@Camille"}},
    ))
    assert from_adf(body, USERS) == "Bonjour @Camille Martin"


def test_adf_mention_fallbacks():
    known_text = {"type": "mention", "attrs": {"id": "unknown", "text": "@Hugo Bernard"}}
    bare = {"type": "mention", "attrs": {"id": "unknown"}}
    assert from_adf(doc(paragraph(known_text))) == "@Hugo Bernard"
    assert from_adf(doc(paragraph(bare))) == "@utilisateur"


def test_adf_emoji():
    body = doc(paragraph(
        {"type": "emoji", "attrs": {"shortName": ":grinning:", "id": "1f600", "text": "😀"}},
        {"type": "emoji", "attrs": {"shortName": ":custom:", "id": "x"}},
    ))
    assert from_adf(body) == "😀:custom:"


def test_adf_links():
    link = {"type": "link", "attrs": {"href": "https://ex.com/kb"}}
    same = {"type": "link", "attrs": {"href": "https://ex.com"}}
    body = doc(paragraph(text("la FAQ", link), text(" et "), text("https://ex.com", same)))
    assert from_adf(body) == "la FAQ (https://ex.com/kb) et https://ex.com"


def test_adf_code_block_and_inline_code():
    body = doc(
        paragraph(text("Lancez "), text("erp --check", {"type": "code"})),
        {"type": "codeBlock", "attrs": {"language": "sql"}, "content": [text("SELECT *\nFROM t;")]},
    )
    assert from_adf(body) == "Lancez erp --check\n\nSELECT *\nFROM t;"


def test_adf_lists():
    item = lambda *blocks: {"type": "listItem", "content": list(blocks)}  # noqa: E731
    nested = {"type": "bulletList", "content": [item(paragraph(text("sous-point")))]}
    body = doc(
        {"type": "bulletList", "content": [item(paragraph(text("un")), nested), item(paragraph(text("deux")))]},
        {"type": "orderedList", "attrs": {"order": 3}, "content": [item(paragraph(text("trois")))]},
    )
    assert from_adf(body) == "- un\n  - sous-point\n- deux\n\n3. trois"


def test_adf_heading_and_paragraphs():
    body = doc(
        {"type": "heading", "attrs": {"level": 2}, "content": [text("Diagnostic")]},
        paragraph(text("ligne 1"), {"type": "hardBreak"}, text("ligne 2")),
    )
    assert from_adf(body) == "Diagnostic\n\nligne 1\nligne 2"


def test_adf_media():
    body = doc(
        {"type": "mediaSingle", "content": [{"type": "media", "attrs": {"id": "abc", "type": "file", "collection": ""}}]},
        {"type": "mediaGroup", "content": [{"type": "media", "attrs": {"id": "d", "type": "file", "alt": "facture.pdf"}}]},
    )
    assert from_adf(body) == "[pièce jointe]\n\n[pièce jointe : facture.pdf]"


def test_adf_table():
    cell = lambda kind, value: {"type": kind, "content": [paragraph(text(value))]}  # noqa: E731
    body = doc({"type": "table", "content": [
        {"type": "tableRow", "content": [cell("tableHeader", "Module"), cell("tableHeader", "Statut")]},
        {"type": "tableRow", "content": [cell("tableCell", "Ventes"), cell("tableCell", "OK")]},
    ]})
    assert from_adf(body) == "Module | Statut\nVentes | OK"


def test_adf_panel_expand_quote():
    body = doc(
        {"type": "panel", "attrs": {"panelType": "info"}, "content": [paragraph(text("Info"))]},
        {"type": "expand", "attrs": {"title": "Détails"}, "content": [paragraph(text("caché"))]},
        {"type": "blockquote", "content": [paragraph(text("cité"))]},
    )
    assert from_adf(body) == "Info\n\nDétails\ncaché\n\ncité"


def test_adf_nested_marks():
    marks = ({"type": "strong"}, {"type": "em"}, {"type": "link", "attrs": {"href": "https://ex.com"}})
    body = doc(paragraph(text("important", *marks), text(" fin", {"type": "textColor", "attrs": {"color": "#ff0000"}})))
    assert from_adf(body) == "important (https://ex.com) fin"


def test_adf_unknown_nodes_do_not_raise():
    body = doc(
        {"type": "futureBlock", "content": [paragraph(text("dedans"))]},
        paragraph({"type": "futureInline", "attrs": {"text": "attr"}}),
        {"type": "paragraph", "content": "not a list"},
        "not a node",
        {"type": "mention", "attrs": None},
        {"type": "date", "attrs": {"timestamp": "nope"}},
        {"type": "text"},
    )
    assert from_adf(body) == "dedans\n\nattr\n\n\n\n\n\n@utilisateur"


def test_adf_deep_nesting_does_not_raise():
    body = paragraph(text("fond"))
    for _ in range(5000):
        body = {"type": "blockquote", "content": [body]}
    assert from_adf(doc(body)) == ""


def test_adf_not_a_document():
    assert from_adf(None) == ""


def test_wiki_realistic_comment():
    body = (
        "h3. Diagnostic\n"
        "Bonjour [~accountid:5b10ac8d82e05b22cc7d4ef5], voir *la FAQ* [ici|https://ex.com/kb] :)\\\\fin\n"
        "* étape _un_\n** détail\n# premier\n# second\n"
        "||Module||Statut||\n|Ventes|{{OK}}|\n"
        "{code:sql}\nSELECT 1;\n{code}\n"
        "!capture.png|thumbnail! \\*pas gras\\* (y)"
    )
    assert from_wiki(body, USERS) == (
        "Diagnostic\n"
        "Bonjour @Camille Martin, voir la FAQ ici (https://ex.com/kb) 🙂\nfin\n"
        "- étape un\n  - détail\n1. premier\n2. second\n"
        "Module | Statut\nVentes | OK\n"
        "SELECT 1;\n"
        "[pièce jointe : capture.png] *pas gras* 👍"
    )


def test_wiki_mention_fallbacks():
    assert from_wiki("[~accountid:unknown] [~jdoe]") == "@utilisateur @jdoe"


def test_wiki_quote_and_panel_tags_removed():
    assert from_wiki("avant\n{quote}\ncité\n{quote}\n{panel:title=T}\ndans\n{panel}") == "avant\ncité\ndans\n"


def test_wiki_not_a_string():
    assert from_wiki(None) == ""


def test_jira_body_dispatch():
    assert from_jira_body("*a*") == "a"
    assert from_jira_body(doc(paragraph(text("b")))) == "b"
    assert from_jira_body(None) == ""


def escaped_sizes(parts):
    return [utf16_length(to_wiki_literal(part)) for part in parts]


def test_split_long_text_respects_limit():
    rng = random.Random(5)
    words = ["facture", "*gras*", "l'été", "😀", "C:\\x\\*", "http://ex.com/a_b", "-", "\n", "\n\n"]
    source = " ".join(rng.choice(words) for _ in range(20_000))[:100_000]
    parts = split_message(source, 30_000)
    assert len(source) == 100_000
    assert all(size <= 30_000 for size in escaped_sizes(parts))
    assert all(parts)
    assert "".join("".join(parts).split()) == "".join(normalize_text(source).split())


def test_split_one_huge_word():
    source = "*" * 70_000
    parts = split_message(source, 30_000)
    assert all(size <= 30_000 for size in escaped_sizes(parts))
    assert "".join(parts) == source


def test_split_keeps_graphemes():
    # "x" with an acute accent has no precomposed form, so NFC keeps the combining mark.
    source = ("x\u0301" * 50 + "👍🏽" * 50 + "👨\u200d👩\u200d👧" * 20 + "🇫🇷" * 50) * 40
    parts = split_message(source, 1_000)
    assert "".join(parts) == source
    for part in parts:
        assert not unicodedata.combining(part[0])
        assert part[0] not in "\u200d\U0001f3fd"
        assert utf16_length(to_wiki_literal(part)) <= 1_000


def test_split_short_text_is_one_part():
    assert split_message("bonjour") == ["bonjour"]


def test_split_default_under_jira_limit():
    parts = split_message("x " * 40_000)
    assert all(size < JIRA_COMMENT_MAX_CHARS for size in escaped_sizes(parts))


def test_validate_message_too_long():
    with pytest.raises(ValueError) as error:
        validate_message("a" * 12_345)
    message = str(error.value)
    assert message.startswith("Le message dépasse 10\u202f000 caractères (12\u202f345).")
    assert "The message exceeds 10,000 characters (12,345)." in message


def test_validate_message_at_limit():
    assert validate_message("a" * MAX_MESSAGE_CHARS) == "a" * MAX_MESSAGE_CHARS


@pytest.mark.parametrize("empty", ["", "   ", "\n\t\r\n"])
def test_validate_message_empty(empty):
    with pytest.raises(ValueError, match="Le message est vide"):
        validate_message(empty)


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\ud800"])
def test_validate_message_control_char(char):
    with pytest.raises(ValueError, match=f"U\\+{ord(char):04X}, position 3"):
        validate_message("ab" + char)


def test_validate_message_normalizes():
    assert validate_message("ligne\r\nsuite\tE\u0301") == "ligne\nsuite\t\u00c9"
