"""FaqIndex: the hard cases of French statements, the threshold, and the ranking's structure.

The threshold cases run on the evaluation catalogue (eval/faq/articles.json), on which the
production threshold was set. The structural cases build small catalogues of their own.
"""

import json

import pytest

from addon.faq.analysis import parse_synonyms
from addon.faq.cli import load_articles
from addon.faq.ranking import Article, FaqIndex, Suggestion, Thresholds

from .support import ROOT_DIR

CATALOGUE = load_articles(json.loads((ROOT_DIR / "eval" / "faq" / "articles.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def index():
    return FaqIndex(CATALOGUE)


def top(index, text):
    suggestions = index.suggest(text)
    return suggestions[0].article_id if suggestions else None


@pytest.mark.parametrize("accented, plain", [
    ("période clôturée", "periode cloturee"),
    ("écart de rapprochement bancaire", "ecart de rapprochement bancaire"),
    ("Déclaration de TVA", "DECLARATION DE TVA"),
    ("réception partielle d'une commande fournisseur", "reception partielle d'une commande fournisseur"),
])
def test_missing_accents_same_ranking(index, accented, plain):
    assert index.suggest(accented)
    assert index.suggest(plain) == index.suggest(accented)


def test_curly_apostrophe_same_ranking(index):
    straight = index.suggest("je n'arrive pas à lancer l'ordre de fabrication")
    curly = index.suggest("je n’arrive pas à lancer l’ordre de fabrication")
    assert curly == straight
    assert straight[0].article_id == "faq-prod-lancement-of-nomenclature"


@pytest.mark.parametrize("text, expected", [
    ("inventiare annuel", "tuto-stock-inventaire-physique"),
    ("probleme de lettarge", "faq-compta-lettrage"),
    ("rapprochemnt bancaire", "faq-compta-rapprochement-bancaire"),
    ("factrue client erronée : faire un avoir", "faq-vente-avoir-client"),
    ("amortisements faux", "faq-compta-amortissements"),
])
def test_typos_tolerated(index, text, expected):
    assert top(index, text) == expected


@pytest.mark.parametrize("short, long, expected", [
    ("BL bloqué stock insuffisant", "bon de livraison bloqué stock insuffisant", "faq-vente-bl-stock-insuffisant"),
    ("lancement OF impossible", "lancement ordre de fabrication impossible", "faq-prod-lancement-of-nomenclature"),
    ("BC en attente d'approbation", "bon de commande en attente d'approbation", "faq-achat-bc-validation-bloquee"),
    ("les CP d'un salarié sont faux", "les congés payés d'un salarié sont faux", "faq-paie-conges-payes"),
])
def test_abbreviations_match_long_forms(index, short, long, expected):
    assert top(index, short) == expected
    assert index.suggest(short) == index.suggest(long)


@pytest.mark.parametrize("text, expected", [
    ("pb facture client erronee il faut la supprimer", "faq-vente-avoir-client"),
    ("bjr, pb de connexion au serveur svp", "faq-connexion-serveur-impossible"),
    ("mdp perdu", "faq-acces-mot-de-passe"),
    ("remise pas prise en compte sur la cde client", "faq-vente-remise-non-appliquee"),
])
def test_sms_forms(index, text, expected):
    assert top(index, text) == expected


@pytest.mark.parametrize("text, expected", [
    ("ERR-1042", "faq-vente-bl-stock-insuffisant"),
    ("err1042", "faq-vente-bl-stock-insuffisant"),
    ("SQL-00942", "faq-sql-00942-table-inexistante"),
    ("0x80004005", "faq-installation-0x80004005"),
    ("erreur 4401 en saisie", "faq-compta-periode-cloturee"),
    ("le rapport des ventes ne s'affiche plus, erreur SQL-00942", "faq-sql-00942-table-inexistante"),
])
def test_error_codes(index, text, expected):
    assert top(index, text) == expected


def test_error_code_alone_gets_only_its_article(index):
    suggestions = index.suggest("ERR-3107")
    assert [item.article_id for item in suggestions] == ["faq-prod-lancement-of-nomenclature"]


@pytest.mark.parametrize("text", [
    "",
    "   ",
    "?!",
    "bonjour",
    "ça marche pas",
    "urgent !!!",
    "ERR-9999",
    "la machine à café est en panne",
    "comment configurer ma signature dans outlook",
    "le téléphone de l'accueil ne sonne plus",
    "calcul de la taxe d'apprentissage",
])
def test_no_suggestion(index, text):
    assert index.suggest(text) == []


def test_suggestions_sorted_and_limited(index):
    suggestions = index.suggest("facture client TVA avoir", limit=3)
    assert 1 <= len(suggestions) <= 3
    scores = [item.score for item in suggestions]
    assert scores == sorted(scores, reverse=True)
    assert all(isinstance(item, Suggestion) and isinstance(item.score, float) for item in suggestions)


def test_relative_cutoff_drops_weak_tail(index):
    loose = FaqIndex(CATALOGUE, thresholds=Thresholds(relative_cutoff=0.0))
    text = "facture client TVA avoir"
    best = index.suggest(text)[0].score
    assert all(item.score >= 0.4 * best for item in index.suggest(text))
    assert len(loose.suggest(text)) >= len(index.suggest(text))


def test_same_text_same_answer(index):
    text = "Je n'arrive pas à valider mon BL, stock insufisant"
    assert index.suggest(text) == index.suggest(text) == FaqIndex(CATALOGUE).suggest(text)


def test_admin_synonyms_reach_ranking():
    text = "mon BLF est bloqué"
    assert FaqIndex(CATALOGUE).suggest(text) == []
    with_synonyms = FaqIndex(CATALOGUE, parse_synonyms("BLF = bon de livraison"))
    assert with_synonyms.suggest(text)[0].article_id == "faq-vente-bl-stock-insuffisant"


# Structure, on small catalogues.

def article(article_id, title, body="", tags=()):
    return Article(id=article_id, kind="faq", title=title, body=body, tags=tuple(tags))


def test_len_counts_articles():
    assert len(FaqIndex([])) == 0
    assert len(FaqIndex(CATALOGUE)) == len(CATALOGUE)


def test_empty_index_suggests_nothing():
    assert FaqIndex([]).suggest("facture") == []


def test_duplicate_id_rejected():
    with pytest.raises(ValueError) as caught:
        FaqIndex([article("a", "Facture"), article("b", "Stock"), article("a", "Avoir")])
    assert "'a' appears twice" in str(caught.value)


def test_title_outweighs_body():
    articles = [
        article("body", "Paramètres généraux", "Le lettrage se règle ici, avec d'autres options du dossier."),
        article("title", "Lettrage des comptes", "Associer les factures et les règlements d'un tiers."),
    ] + [article(f"filler-{n}", f"Sujet {n}", f"texte numéro {n}") for n in range(8)]
    index = FaqIndex(articles, thresholds=Thresholds(min_relevance=0, min_coverage=0, relative_cutoff=0))
    assert [item.article_id for item in index.suggest("lettrage")] == ["title", "body"]


def test_code_outweighs_words():
    articles = [
        article("code", "Message ERR-2210", "Un écart de rapprochement."),
        article("words", "Facture fournisseur", "Facture fournisseur : saisie de la facture du fournisseur."),
    ] + [article(f"filler-{n}", f"Sujet {n}", f"texte numéro {n}") for n in range(8)]
    index = FaqIndex(articles, thresholds=Thresholds(min_relevance=0, min_coverage=0, relative_cutoff=0))
    assert index.suggest("facture fournisseur ERR-2210")[0].article_id == "code"


def test_different_code_does_not_match():
    articles = [article("a", "Erreur ERR-1042", "Stock insuffisant.")] + [
        article(f"filler-{n}", f"Sujet {n}", f"texte numéro {n}") for n in range(8)
    ]
    index = FaqIndex(articles, thresholds=Thresholds(min_relevance=0, min_coverage=0, relative_cutoff=0))
    assert [item.article_id for item in index.suggest("ERR-1042")] == ["a"]
    assert index.suggest("ERR-1043") == []


def test_typo_correction_needs_five_letters():
    articles = [article("a", "Stock des lots", "Suivi du stock par lot.")] + [
        article(f"filler-{n}", f"Sujet {n}", f"texte numéro {n}") for n in range(8)
    ]
    index = FaqIndex(articles, thresholds=Thresholds(min_relevance=0, min_coverage=0, relative_cutoff=0))
    assert [item.article_id for item in index.suggest("stokc")] == ["a"]  # two letters swapped
    assert [item.article_id for item in index.suggest("stcok")] == ["a"]
    assert index.suggest("lto") == []  # too short to correct


def test_tags_are_searched():
    articles = [article("tagged", "Paramètres", "Options du dossier.", tags=["inventaire tournant"])] + [
        article(f"filler-{n}", f"Sujet {n}", f"texte numéro {n}") for n in range(8)
    ]
    index = FaqIndex(articles)
    assert [item.article_id for item in index.suggest("inventaire tournant")] == ["tagged"]
