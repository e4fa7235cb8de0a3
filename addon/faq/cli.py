"""The `flask faq` commands: the FAQ ranking and the scope guard from the command line.

`flask --app app faq suggest --articles FILE.json --batch` reads JSON lines {"id": ..., "text": ...}
on standard input and writes, per line, {"id": ..., "suggestions": [{"article": ID, "score": S}, ...],
"scope": "support" | "training" | "customisation"}. It uses FaqIndex.suggest and classify_scope,
as the add-on does, so offline evaluations measure the production ranking, threshold and guard.

A line that is not a JSON object with an "id" (string or integer) and a "text" (string) gets an
error on standard error naming its line number and no output line. The other lines still get
their output line, and the command exits with status 1 after the last line. Blank lines are skipped.
"""

import json
import sys

import click

from .analysis import SynonymError, analyze, parse_synonyms
from .guard import classify_scope
from .ranking import Article, FaqIndex

ARTICLE_KINDS = ("faq", "tuto")
ARTICLE_SOURCES = ("catalogue", "confluence")


class InvalidArticle(ValueError):
    """An article of an articles file that is missing a field or has a field of the wrong type."""


@click.group("faq")
def faq_cli():
    """FAQ search commands. They need no database and no installed site."""


@faq_cli.command("suggest")
@click.option(
    "--articles", "articles_path", required=True, metavar="FILE.json",
    type=click.Path(exists=True, dir_okay=False),
    help='Articles to rank: a JSON list of {"id", "kind": "faq"|"tuto", "title", "body", "tags"}.',
)
@click.option(
    "--synonyms", "synonyms_path", metavar="FILE", type=click.Path(exists=True, dir_okay=False),
    help='Synonym list added to the built-in one, one "BL = bon de livraison" entry a line.',
)
@click.option(
    "--batch", is_flag=True,
    help='Read JSON lines {"id": ..., "text": ...} on standard input, write one JSON line per query.',
)
@click.option("--limit", default=5, show_default=True, type=click.IntRange(1, 100),
              help="Maximum number of articles proposed per query.")
@click.argument("text", required=False)
def suggest_command(articles_path, synonyms_path, batch, limit, text):
    """Propose articles for TEXT, or for each query on standard input with --batch.

    Each answer is one JSON line with the proposed articles, best first, and the scope that the
    out-of-scope guard reads in the text. An empty list means no article reaches the threshold.
    """
    if batch == (text is not None):
        raise click.UsageError("give either TEXT or --batch (queries as JSON lines on standard input)")
    index = FaqIndex(_read_articles(articles_path), _read_synonyms(synonyms_path))

    if not batch:
        _write(_answer(index, text, limit))
        return

    failed = answered = 0
    # Bytes, so that a line that is not UTF-8 is reported on its own instead of stopping the batch.
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        try:
            query = _parse_query(raw)
        except ValueError as error:
            click.echo(f"Error: line {number}: {error}", err=True)
            failed += 1
            continue
        if query is None:
            continue
        _write({"id": query["id"], **_answer(index, query["text"], limit)})
        answered += 1

    if failed:
        click.echo(f"Error: {failed} of {failed + answered} queries failed; see the lines named above.", err=True)
        sys.exit(1)


@faq_cli.command("analyze")
@click.option(
    "--synonyms", "synonyms_path", metavar="FILE", type=click.Path(exists=True, dir_okay=False),
    help='Synonym list added to the built-in one, one "BL = bon de livraison" entry a line.',
)
@click.argument("text")
def analyze_command(synonyms_path, text):
    """Print the index terms of TEXT, one line, separated by spaces.

    Error codes start with #. This shows how a synonym list changes what a statement matches.
    """
    click.echo(" ".join(analyze(text, _read_synonyms(synonyms_path))))


def _answer(index, text, limit):
    suggestions = [{"article": item.article_id, "score": item.score} for item in index.suggest(text, limit)]
    return {"suggestions": suggestions, "scope": classify_scope(text)}


def _write(record):
    # ASCII JSON, so that the output does not depend on the terminal's encoding. echo flushes, so
    # a program that writes one query and waits reads its output line at once.
    click.echo(json.dumps(record))


def _parse_query(raw):
    """Return {"id", "text"} of one input line, None for a blank line, or raise ValueError."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"not UTF-8 text (byte {error.start}); save the input as UTF-8") from None
    if not line.strip():
        return None
    try:
        query = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f'invalid JSON at column {error.colno}: {error.msg}; write {{"id": ..., "text": ...}}') from None
    if not isinstance(query, dict):
        raise ValueError(f'expected a JSON object {{"id": ..., "text": ...}}, got {type(query).__name__}')
    if "id" not in query:
        raise ValueError('missing "id"; give each query a string or integer id')
    if isinstance(query["id"], bool) or not isinstance(query["id"], (str, int)):
        raise ValueError(f'"id" must be a string or an integer, got {json.dumps(query["id"])[:40]}')
    if not isinstance(query.get("text"), str):
        problem = "missing" if "text" not in query else f"not a string ({json.dumps(query['text'])[:40]})"
        raise ValueError(f'"text" is {problem} in query {json.dumps(query["id"])}; give the statement as a string')
    return {"id": query["id"], "text": query["text"]}


def _read_articles(path):
    try:
        with open(path, encoding="utf-8") as file:
            data = json.load(file)
    except (OSError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{path}: cannot read the articles: {error}") from None
    except json.JSONDecodeError as error:
        raise click.ClickException(
            f"{path}: invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}"
        ) from None
    try:
        return load_articles(data)
    except InvalidArticle as error:
        raise click.ClickException(f"{path}: {error}") from None


def load_articles(data):
    """Return the Articles of a decoded articles file, or raise InvalidArticle naming the article.

    The file is a list of {"id", "kind": "faq"|"tuto", "title", "body", "tags"} objects. "tags"
    may be left out, and "url" and "source" ("catalogue" or "confluence") are optional. Ids must be
    unique.
    """
    if not isinstance(data, list):
        raise InvalidArticle(f"expected a JSON list of articles, got {type(data).__name__}")
    articles, seen = [], set()
    for position, item in enumerate(data, start=1):
        try:
            article = _article(item)
        except InvalidArticle as error:
            raise InvalidArticle(f"article {position}: {error}") from None
        if article.id in seen:
            raise InvalidArticle(f"article {position}: id {article.id!r} appears twice; give each article its own id")
        seen.add(article.id)
        articles.append(article)
    return articles


def _article(item):
    if not isinstance(item, dict):
        raise InvalidArticle(f"expected an object, got {type(item).__name__}")
    for name in ("id", "title", "body"):
        if not isinstance(item.get(name), str):
            raise InvalidArticle(f'"{name}" is missing or not a string')
    if not item["id"].strip():
        raise InvalidArticle('"id" is empty')
    label = f"(id {item['id']!r})"
    if item.get("kind") not in ARTICLE_KINDS:
        raise InvalidArticle(f'{label} "kind" must be "faq" or "tuto", got {json.dumps(item.get("kind"))}')
    tags = item.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(tag, str) for tag in tags):
        raise InvalidArticle(f'{label} "tags" must be a list of strings')
    url = item.get("url")
    if url is not None and not isinstance(url, str):
        raise InvalidArticle(f'{label} "url" must be a string')
    source = item.get("source", "catalogue")
    if source not in ARTICLE_SOURCES:
        raise InvalidArticle(f'{label} "source" must be "catalogue" or "confluence", got {json.dumps(source)}')
    return Article(id=item["id"], kind=item["kind"], title=item["title"], body=item["body"],
                   tags=tuple(tags), url=url, source=source)


def _read_synonyms(path):
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as file:
            return parse_synonyms(file.read())
    except (OSError, UnicodeDecodeError) as error:
        raise click.ClickException(f"{path}: cannot read the synonyms: {error}") from None
    except SynonymError as error:
        raise click.ClickException(f"{path}: {error}") from None
