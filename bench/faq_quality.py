"""Measure the FAQ search and the scope guard on the French evaluation set in eval/faq.

    python -m bench.faq_quality            # print the figures, rewrite "FAQ quality" in BENCHMARKS.md
    python -m bench.faq_quality --no-write # print only
    python -m bench.faq_quality --sweep    # also print the tuning queries' figures over a grid of thresholds

The figures come from `flask --app app faq suggest --batch`, run as a subprocess on the articles
and queries, so they measure the production ranking, threshold and guard through the documented
command. The sweep builds FaqIndex in this process with other Thresholds, to show how the
production threshold was chosen.

Ranking figures count support queries only: a training or customisation statement gets the
guard's message, and its suggestions are neither right nor wrong. A query is answerable when it
names at least one relevant article (grade 2: the article resolves it, grade 1: a related article),
and no-answer otherwise.
"""

import argparse
import json
import math
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

from bench.common import machine_description, write_section

ROOT = Path(__file__).resolve().parent.parent
ARTICLES = ROOT / "eval" / "faq" / "articles.json"
QUERIES = ROOT / "eval" / "faq" / "queries.jsonl"
BENCHMARKS = ROOT / "BENCHMARKS.md"
COMMAND = "python -m bench.faq_quality"
SECTION = "## FAQ quality"
CUTOFF = 5
SCOPES = ("support", "training", "customisation")
LATE_TAG = "late"


def main(argv=None):
    parser = argparse.ArgumentParser(description="Measure the FAQ search and scope guard on eval/faq.")
    parser.add_argument("--no-write", action="store_true", help="print the figures without rewriting BENCHMARKS.md")
    parser.add_argument("--sweep", action="store_true", help="also print the figures over a grid of thresholds")
    args = parser.parse_args(argv)

    queries = load_queries(QUERIES)
    answers = run_cli(queries)
    text = format_report(queries, answers, len(json.loads(ARTICLES.read_text(encoding="utf-8"))))
    print(text)

    if args.sweep:
        print(sweep([query for query in queries if LATE_TAG not in query.get("tags", [])]))
    if not args.no_write:
        write_section(section_text(text), BENCHMARKS)
        print(f"Rewrote the \"{SECTION[3:]}\" section of {BENCHMARKS.name}.")


def load_queries(path):
    with open(path, encoding="utf-8") as file:
        return [json.loads(line) for line in file if line.strip()]


def run_cli(queries):
    """Return {query id: answer} from `flask faq suggest --batch` run on the queries."""
    command = [sys.executable, "-m", "flask", "--app", "app", "faq", "suggest",
               "--articles", str(ARTICLES.relative_to(ROOT)), "--batch"]
    stdin = "".join(json.dumps({"id": query["id"], "text": query["text"]}) + "\n" for query in queries)
    completed = subprocess.run(command, cwd=ROOT, input=stdin, capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=600)
    if completed.returncode != 0:
        sys.exit(f"{' '.join(command)} failed with status {completed.returncode}:\n{completed.stderr}")
    answers = {}
    for line in completed.stdout.splitlines():
        answer = json.loads(line)
        answers[answer["id"]] = answer
    missing = [query["id"] for query in queries if query["id"] not in answers]
    if missing:
        sys.exit(f"the command answered no line for queries {', '.join(missing[:10])}")
    return answers


def evaluate(queries, answers):
    """Return the figures of the command's output lines {id: {"suggestions", "scope"}} against the labels."""
    ranking = {"ndcg": [], "mrr": [], "answered": [], "false": []}
    by_tag = {}
    confusion = {(expected, got): 0 for expected in SCOPES for got in SCOPES}

    for query in queries:
        answer = answers[query["id"]]
        confusion[(query["scope"], answer["scope"])] += 1
        if query["scope"] != "support":
            continue
        ranked = [item["article"] for item in answer["suggestions"]][:CUTOFF]
        relevant = query["relevant"]
        if not relevant:
            ranking["false"].append(bool(ranked))
            continue
        scores = (ndcg(ranked, relevant), reciprocal_rank(ranked, relevant), bool(ranked))
        for name, value in zip(("ndcg", "mrr", "answered"), scores):
            ranking[name].append(value)
        for tag in query.get("tags", []):
            by_tag.setdefault(tag, []).append(scores)

    guard = {}
    for scope in SCOPES:
        true_positives = confusion[(scope, scope)]
        predicted = sum(confusion[(expected, scope)] for expected in SCOPES)
        actual = sum(confusion[(scope, got)] for got in SCOPES)
        guard[scope] = {"true_positives": true_positives, "predicted": predicted, "actual": actual}
    return {"ranking": ranking, "by_tag": by_tag, "guard": guard}


def ndcg(ranked, relevant):
    gains = [2 ** relevant.get(article, 0) - 1 for article in ranked[:CUTOFF]]
    ideal = sorted((2 ** grade - 1 for grade in relevant.values()), reverse=True)[:CUTOFF]
    ideal_dcg = _dcg(ideal)
    return _dcg(gains) / ideal_dcg if ideal_dcg else 0.0


def _dcg(gains):
    return sum(gain / math.log2(rank + 2) for rank, gain in enumerate(gains))


def reciprocal_rank(ranked, relevant):
    for rank, article in enumerate(ranked[:CUTOFF], start=1):
        if relevant.get(article, 0) > 0:
            return 1 / rank
    return 0.0


def mean(values):
    return sum(values) / len(values) if values else float("nan")


def format_report(queries, answers, article_count):
    """Return the figures as Markdown: the whole set, the tuning queries and the late queries."""
    subsets = {
        "All": queries,
        "Tuning": [query for query in queries if LATE_TAG not in query.get("tags", [])],
        "Late": [query for query in queries if LATE_TAG in query.get("tags", [])],
    }
    reports = {name: evaluate(subset, answers) for name, subset in subsets.items()}
    counts = {name: _counts(subset) for name, subset in subsets.items()}
    lines = [
        f"{article_count} articles, {len(queries)} queries. The tuning queries served to set the analysis, "
        f"the threshold and the guard's cues. The late queries (tag `{LATE_TAG}`) were written afterwards, "
        "and nothing in the ranking was changed for them; docs/faq-engine.md lists the one guard fix "
        "they led to.",
        "",
        "| Measure | " + " | ".join(subsets) + " |",
        "|---|" + "---|" * len(subsets),
        "| Queries (answerable / no-answer / training / customisation) | "
        + " | ".join(counts[name] for name in subsets) + " |",
    ]
    rows = (
        ("nDCG@5, answerable queries", lambda report: f"{mean(report['ranking']['ndcg']):.3f}"),
        ("MRR@5, answerable queries", lambda report: f"{mean(report['ranking']['mrr']):.3f}"),
        ("Answerable queries that get a suggestion", lambda report: _share(report["ranking"]["answered"])),
        ("No-answer queries that get a suggestion", lambda report: _share(report["ranking"]["false"])),
    )
    for label, value in rows:
        lines.append(f"| {label} | " + " | ".join(value(reports[name]) for name in subsets) + " |")
    for scope in SCOPES:
        for measure in ("precision", "recall"):
            lines.append(f"| Guard {measure}, {scope} | "
                         + " | ".join(_ratio(reports[name]["guard"][scope], measure) for name in subsets) + " |")

    lines += ["", "Answerable queries of the whole set, per tag (a query may carry several tags):", "",
              "| Tag | Queries | nDCG@5 | MRR@5 | Get a suggestion |", "|---|---|---|---|---|"]
    for tag, scores in sorted(reports["All"]["by_tag"].items()):
        ndcgs, mrrs, answered = zip(*scores)
        lines.append(f"| {tag} | {len(scores)} | {mean(ndcgs):.3f} | {mean(mrrs):.3f} | {_share(answered)} |")
    return "\n".join(lines)


def _counts(queries):
    answerable = sum(1 for query in queries if query["scope"] == "support" and query["relevant"])
    no_answer = sum(1 for query in queries if query["scope"] == "support" and not query["relevant"])
    training = sum(1 for query in queries if query["scope"] == "training")
    customisation = sum(1 for query in queries if query["scope"] == "customisation")
    return f"{answerable} / {no_answer} / {training} / {customisation}"


def _ratio(figures, measure):
    numerator = figures["true_positives"]
    denominator = figures["predicted" if measure == "precision" else "actual"]
    return f"{numerator}/{denominator} ({numerator / denominator:.1%})" if denominator else "n/a"


def _share(flags):
    flags = list(flags)
    return f"{sum(flags)}/{len(flags)} ({mean(flags):.1%})" if flags else "n/a"


def sweep(queries):
    """Return a table of the ranking figures of `queries` over a grid of Thresholds."""
    sys.path.insert(0, str(ROOT))
    from addon.faq.cli import load_articles
    from addon.faq.guard import classify_scope
    from addon.faq.ranking import FaqIndex, Thresholds

    articles = load_articles(json.loads(ARTICLES.read_text(encoding="utf-8")))
    scopes = {query["id"]: classify_scope(query["text"]) for query in queries}
    lines = ["", "| unknown_word_weight | min_relevance | min_coverage | nDCG@5 | MRR@5 | Get a suggestion | False suggestions |",
             "|---|---|---|---|---|---|---|"]
    grid = [(unknown, relevance, coverage) for unknown in (0.5, 0.75, 1.0) for relevance in (0.5, 0.6, 0.66, 0.72, 0.78, 0.84)
            for coverage in (0.2, 0.3, 0.4)]
    for unknown_word_weight, min_relevance, min_coverage in grid:
            thresholds = Thresholds(min_relevance=min_relevance, min_coverage=min_coverage,
                                    unknown_word_weight=unknown_word_weight)
            index = FaqIndex(articles, thresholds=thresholds)
            answers = {
                query["id"]: {
                    "suggestions": [{"article": item.article_id} for item in index.suggest(query["text"])],
                    "scope": scopes[query["id"]],
                }
                for query in queries
            }
            ranking = evaluate(queries, answers)["ranking"]
            lines.append(f"| {unknown_word_weight} | {min_relevance} | {min_coverage} | {mean(ranking['ndcg']):.3f} | {mean(ranking['mrr']):.3f} | "
                         f"{_share(ranking['answered'])} | {_share(ranking['false'])} |")
    return "\n".join(lines)


def section_text(figures):
    date = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return "\n".join([
        SECTION,
        "",
        f"Command: `{COMMAND}` (from the repository root). Date: {date}. Machine: {machine_description()}.",
        "",
        "The set is eval/faq: French ERP-support articles and labelled queries, written for this "
        "evaluation. The production threshold was chosen on this same set (`--sweep` prints the "
        "grid), so the figures are optimistic for other catalogues. docs/faq-engine.md describes the "
        "measures.",
        "",
        figures,
        "",
    ])


if __name__ == "__main__":
    main()
