"""`flask faq suggest` and `flask faq analyze`: the JSON-lines batch, the same ranking and guard as
FaqIndex and classify_scope, errors for bad lines and bad files, the command run for real in a
fresh environment, and the shipped evaluation set."""

import json
import os
import subprocess
import sys

import click
import pytest
from flask.cli import FlaskGroup, ScriptInfo

from addon import create_app
from addon.cli import STANDALONE_GROUPS, create_cli_app, load_group, standalone_app
from addon.faq.cli import faq_cli, load_articles
from addon.faq.guard import classify_scope
from addon.faq.ranking import FaqIndex
from bench.common import write_section
from bench.faq_quality import SECTION

from .conftest import TEST_SECRET_KEY
from .support import ROOT_DIR

EVAL_DIR = ROOT_DIR / "eval" / "faq"
ARTICLES_FILE = str(EVAL_DIR / "articles.json")

QUERIES = [
    {"id": "q1", "text": "Impossible de valider le BL : ERR-1042"},
    {"id": 2, "text": "cloture de l’exercice comptable"},
    {"id": "q3", "text": "la machine à café est en panne"},
    {"id": "q4", "text": "Nous souhaitons organiser une formation paie"},
    {"id": "q5", "text": "ajouter un champ sur la fiche article"},
    {"id": "q6", "text": ""},
]


def run(*args, stdin=None):
    runner = create_cli_app(faq_cli).test_cli_runner()
    return runner.invoke(args=["faq", *args], input=stdin)


def as_lines(records):
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records).encode("utf-8")


def expected_answer(query, index):
    suggestions = [{"article": item.article_id, "score": item.score} for item in index.suggest(query["text"])]
    return {"id": query["id"], "suggestions": suggestions, "scope": classify_scope(query["text"])}


@pytest.fixture(scope="module")
def index():
    return FaqIndex(load_articles(json.loads((EVAL_DIR / "articles.json").read_text(encoding="utf-8"))))


def test_batch_answers_every_line(index):
    result = run("suggest", "--articles", ARTICLES_FILE, "--batch", stdin=as_lines(QUERIES))

    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert answers == [expected_answer(query, index) for query in QUERIES]


def test_batch_answer_contents():
    result = run("suggest", "--articles", ARTICLES_FILE, "--batch", stdin=as_lines(QUERIES))

    answers = {answer["id"]: answer for answer in map(json.loads, result.stdout.splitlines())}
    assert answers["q1"]["suggestions"][0]["article"] == "faq-vente-bl-stock-insuffisant"
    assert answers["q1"]["scope"] == "support"
    assert answers[2]["suggestions"][0]["article"] == "faq-compta-cloture-exercice"
    assert answers["q3"]["suggestions"] == []
    assert answers["q4"]["scope"] == "training"
    assert answers["q5"]["scope"] == "customisation"
    assert answers["q6"] == {"id": "q6", "suggestions": [], "scope": "support"}
    assert set(answers["q1"]["suggestions"][0]) == {"article", "score"}


def test_limit_option():
    query = {"id": "q", "text": "facture client TVA avoir"}
    result = run("suggest", "--articles", ARTICLES_FILE, "--batch", "--limit", "1", stdin=as_lines([query]))
    assert result.exit_code == 0, result.stderr
    assert len(json.loads(result.stdout)["suggestions"]) == 1


def test_bad_lines_reported_and_others_answered(index):
    stdin = b"".join([
        as_lines([QUERIES[0]]),
        b"not json\n",
        b'{"id": "no-text"}\n',
        b"\n",
        b'{"id": true, "text": "x"}\n',
        b'["a list"]\n',
        b'{"text": "no id"}\n',
        b'{"id": "bad-text", "text": 42}\n',
        b'{"id": "latin1", "text": "cl\xf4ture"}\n',
        as_lines([QUERIES[1]]),
    ])
    result = run("suggest", "--articles", ARTICLES_FILE, "--batch", stdin=stdin)

    assert result.exit_code == 1
    answers = [json.loads(line) for line in result.stdout.splitlines()]
    assert answers == [expected_answer(QUERIES[0], index), expected_answer(QUERIES[1], index)]
    errors = result.stderr.splitlines()
    assert errors[0].startswith("Error: line 2: invalid JSON at column 1")
    assert errors[1] == 'Error: line 3: "text" is missing in query "no-text"; give the statement as a string'
    assert errors[2] == 'Error: line 5: "id" must be a string or an integer, got true'
    assert errors[3] == 'Error: line 6: expected a JSON object {"id": ..., "text": ...}, got list'
    assert errors[4] == 'Error: line 7: missing "id"; give each query a string or integer id'
    assert errors[5].startswith('Error: line 8: "text" is not a string (42)')
    assert errors[6].startswith("Error: line 9: not UTF-8 text")
    assert errors[7] == "Error: 7 of 9 queries failed; see the lines named above."
    assert len(errors) == 8


def test_blank_lines_skipped():
    stdin = b"\n" + as_lines([QUERIES[0]]) + b"   \n\n"
    result = run("suggest", "--articles", ARTICLES_FILE, "--batch", stdin=stdin)
    assert result.exit_code == 0, result.stderr
    assert len(result.stdout.splitlines()) == 1


def test_single_text(index):
    result = run("suggest", "--articles", ARTICLES_FILE, "mot de passe oublié")
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert "id" not in answer
    assert answer["suggestions"][0]["article"] == "faq-acces-mot-de-passe"
    assert answer["scope"] == "support"


@pytest.mark.parametrize("args", [[], ["--batch", "some text"]])
def test_text_or_batch_required(args):
    result = run("suggest", "--articles", ARTICLES_FILE, *args)
    assert result.exit_code == 2
    assert "give either TEXT or --batch" in result.stderr


def test_missing_articles_option():
    result = run("suggest", "--batch", stdin=b"")
    assert result.exit_code == 2
    assert "Missing option '--articles'" in result.stderr


def write_json(tmp_path, data):
    path = tmp_path / "articles.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(path)


GOOD = {"id": "a1", "kind": "faq", "title": "Facture", "body": "Texte", "tags": ["ventes"]}


@pytest.mark.parametrize("data, message", [
    ('[{"id": "a1",\n "kind": }]', "invalid JSON at line 2, column 10"),
    ({"id": "a1"}, "expected a JSON list of articles, got dict"),
    (["text"], "article 1: expected an object, got str"),
    ([GOOD, {**GOOD, "id": "a2", "kind": "FAQ"}], "article 2: (id 'a2') \"kind\" must be \"faq\" or \"tuto\", got \"FAQ\""),
    ([{**GOOD, "title": None}], 'article 1: "title" is missing or not a string'),
    ([{key: value for key, value in GOOD.items() if key != "body"}], 'article 1: "body" is missing or not a string'),
    ([{**GOOD, "id": 7}], 'article 1: "id" is missing or not a string'),
    ([{**GOOD, "id": " "}], 'article 1: "id" is empty'),
    ([{**GOOD, "tags": "ventes"}], "article 1: (id 'a1') \"tags\" must be a list of strings"),
    ([{**GOOD, "source": "web"}], "article 1: (id 'a1') \"source\" must be \"catalogue\" or \"confluence\""),
    ([GOOD, GOOD], "article 2: id 'a1' appears twice"),
])
def test_invalid_articles_file(tmp_path, data, message):
    path = write_json(tmp_path, data)
    result = run("suggest", "--articles", path, "--batch", stdin=as_lines(QUERIES))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith(f"Error: {path}: ")
    assert message in result.stderr


def test_articles_file_without_tags(tmp_path):
    path = write_json(tmp_path, [{key: value for key, value in GOOD.items() if key != "tags"}])
    result = run("suggest", "--articles", path, "facture")
    assert result.exit_code == 0, result.stderr


def test_synonyms_option(tmp_path):
    synonyms = tmp_path / "synonyms.txt"
    synonyms.write_text("# site list\nBLF = bon de livraison\n", encoding="utf-8")
    text = "mon BLF est bloqué, stock insuffisant"

    without = json.loads(run("suggest", "--articles", ARTICLES_FILE, "mon BLF est bloqué").stdout)
    with_synonyms = json.loads(run("suggest", "--articles", ARTICLES_FILE, "--synonyms", str(synonyms), text).stdout)

    assert without["suggestions"] == []
    assert with_synonyms["suggestions"][0]["article"] == "faq-vente-bl-stock-insuffisant"


def test_invalid_synonyms_file(tmp_path):
    synonyms = tmp_path / "synonyms.txt"
    synonyms.write_text("BL = bon de livraison\nOF ordre de fabrication\n", encoding="utf-8")
    result = run("suggest", "--articles", ARTICLES_FILE, "--synonyms", str(synonyms), "x")
    assert result.exit_code == 1
    assert f"Error: {synonyms}: line 2: 'OF ordre de fabrication' has no '='" in result.stderr


def test_analyze_prints_terms():
    result = run("analyze", "Impossible de valider l’OF : ERR-3107")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "imposs valid ordr fabric #err3107 3107\n"


def test_help_names_formats():
    result = run("suggest", "--help")
    assert result.exit_code == 0
    help_text = " ".join(result.stdout.split())
    assert '{"id", "kind": "faq"|"tuto", "title", "body", "tags"}' in help_text
    assert 'Read JSON lines {"id": ..., "text": ...} on standard input' in help_text
    assert "Maximum number of articles proposed per query" in help_text


# The bare app that app.py builds for `faq`, and the full add-on.

def test_standalone_app_for_faq(monkeypatch):
    assert set(STANDALONE_GROUPS) == {"sla", "faq"}
    assert load_group("faq") is faq_cli
    monkeypatch.setattr(sys, "argv", ["flask", "--app", "app", "faq", "suggest"])
    with click.Context(FlaskGroup(), obj=ScriptInfo()):
        app = standalone_app()
        assert set(app.cli.commands) == {"faq"}


def test_registered_on_full_app(tmp_path):
    app = create_app({
        "ADDON_ENV": "test",
        "ADDON_BASE_URL": "http://127.0.0.1:5000",
        "ADDON_SECRET_KEY": TEST_SECRET_KEY,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'addon.sqlite3'}",
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "OUTBOX_AUTOSTART": False,
        "SUBSCRIPTION_EXPIRY_JOB": False,
        "SLA_SWEEPER": False,
    })
    try:
        result = app.test_cli_runner().invoke(args=["faq", "analyze", "bon de livraison"])
    finally:
        app.extensions["database"].dispose()
    assert result.exit_code == 0, result.output
    assert result.output == "bon livr\n"


# The real command line, in a fresh environment: no configuration variables, run from the
# repository root as docs/faq-engine.md shows it.

def fresh_environment():
    names = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    return {name: os.environ[name] for name in names if name in os.environ}


def run_flask(*args, stdin=b""):
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "faq", *args],
        cwd=ROOT_DIR, env=fresh_environment(), input=stdin, capture_output=True, timeout=120,
    )


def test_subprocess_batch_same_ranking_as_index(index):
    completed = run_flask("suggest", "--articles", "eval/faq/articles.json", "--batch", stdin=as_lines(QUERIES))

    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == b""
    answers = [json.loads(line) for line in completed.stdout.decode("ascii").splitlines()]
    assert answers == [expected_answer(query, index) for query in QUERIES]


def test_subprocess_bad_line_exit_status():
    stdin = as_lines([QUERIES[0]]) + b"{oops\n" + as_lines([QUERIES[2]])
    completed = run_flask("suggest", "--articles", "eval/faq/articles.json", "--batch", stdin=stdin)

    assert completed.returncode == 1
    assert len(completed.stdout.splitlines()) == 2
    assert b"Error: line 2: invalid JSON" in completed.stderr


# The shipped evaluation set.

def test_evaluation_set_is_valid():
    articles = load_articles(json.loads((EVAL_DIR / "articles.json").read_text(encoding="utf-8")))
    ids = {article.id for article in articles}
    queries = [json.loads(line) for line in (EVAL_DIR / "queries.jsonl").read_text(encoding="utf-8").splitlines()]

    assert len(articles) >= 40
    assert len(queries) >= 100
    assert len({query["id"] for query in queries}) == len(queries)
    for query in queries:
        assert query["scope"] in ("support", "training", "customisation"), query["id"]
        assert isinstance(query["text"], str), query["id"]
        assert set(query["relevant"]) <= ids, query["id"]
        assert all(grade in (1, 2) for grade in query["relevant"].values()), query["id"]
    assert sum(1 for query in queries if not query["relevant"] and query["scope"] == "support") >= 10
    assert sum(1 for query in queries if query["scope"] == "training") >= 10
    assert sum(1 for query in queries if query["scope"] == "customisation") >= 10


def test_benchmark_section_rewritten_alone(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nIntro.\n\n## Latency\n\nold latency\n\n"
                    f"{SECTION}\n\nold figures\n\n## Load\n\nold load\n", encoding="utf-8")

    write_section(f"{SECTION}\n\nnew figures\n", path)

    assert path.read_text(encoding="utf-8") == (
        "# Benchmarks\n\nIntro.\n\n## Latency\n\nold latency\n\n"
        f"{SECTION}\n\nnew figures\n\n## Load\n\nold load\n"
    )


def test_benchmark_section_added_when_missing(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\n## Latency\n\nold latency\n", encoding="utf-8")

    write_section(f"{SECTION}\n\nnew figures\n", path)

    assert path.read_text(encoding="utf-8") == f"# Benchmarks\n\n## Latency\n\nold latency\n\n{SECTION}\n\nnew figures\n"
