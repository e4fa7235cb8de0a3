"""French analysis of the FAQ search: folding, elisions, stop words, stemming, error codes, SMS
forms, and the admin's synonym list."""

import pytest

from addon.faq.analysis import (
    CODE_PREFIX, SynonymError, analyze, error_codes, fold, parse_synonyms, stem,
)
from addon.faq.lexicon import BUILTIN_SYNONYMS_TEXT, STOP_WORDS


@pytest.mark.parametrize("text, expected", [
    ("Clôture", "cloture"),
    ("ÉCRITURES", "ecritures"),
    ("dépôt", "depot"),
    ("Œuvre cœur", "oeuvre coeur"),
    ("ﬁchier", "fichier"),             # NFKC expands the ligature
    ("ＴＶＡ", "tva"),                   # full-width letters
    ("e\u0301criture", "ecriture"),     # decomposed accent
    ("Straße", "strasse"),
])
def test_fold(text, expected):
    assert fold(text) == expected


def test_accents_and_case_do_not_matter():
    assert analyze("Période clôturée") == analyze("periode cloturee") == analyze("PERIODE CLOTUREE")


@pytest.mark.parametrize("apostrophe", ["'", "’", "‘", "ʼ"])
def test_elisions_with_every_apostrophe(apostrophe):
    text = f"l{apostrophe}ordre d{apostrophe}achat qu{apostrophe}il j{apostrophe}imprime"
    assert analyze(text) == ["ordr", "achat", "imprim"]


def test_elision_before_abbreviation_and_code():
    assert analyze("l’OF") == analyze("ordre de fabrication")
    assert analyze("l'ERR-1042") == [CODE_PREFIX + "err1042", "1042"]
    assert analyze("l'0x80004005") == [CODE_PREFIX + "0x80004005"]


def test_apostrophe_inside_a_word_is_not_an_elision():
    assert analyze("aujourd'hui") == []  # both halves are stop words
    assert "aujourd" in STOP_WORDS


def test_stop_words_dropped_and_erp_words_kept():
    assert analyze("Je n'arrive pas à le faire, ça ne marche pas, pouvez-vous m'aider svp") == []
    assert analyze("facture stock commande erreur avoir") == ["factur", "stock", "command", "err", stem("avoir")]


@pytest.mark.parametrize("forms", [
    ("valider", "validé", "validée", "validés", "validées", "validez", "validation", "validations"),
    ("facture", "factures", "facturer", "facturation", "facturé"),
    ("clôture", "clôturer", "clôturée", "clôturés"),
    ("lancement", "lancer", "lancé", "lancements"),
    ("saisie", "saisir", "saisies", "saisi"),
    ("livraison", "livrer", "livré", "livraisons"),
    ("utilisateur", "utilisateurs", "utiliser"),
    ("journal", "journaux"),
    ("négatif", "négative", "négatifs"),
    ("comptable", "comptabilité", "compte", "comptes"),
])
def test_stemming_joins_forms(forms):
    stems = {stem(fold(form)) for form in forms}
    assert len(stems) == 1, stems


@pytest.mark.parametrize("word", ["devis", "avis", "refus", "plus", "bon", "tva", "bl"])
def test_stemming_keeps_short_and_invariable_words(word):
    assert stem(word) == word


@pytest.mark.parametrize("text, code", [
    ("ERR-1042", "err1042"),
    ("err1042", "err1042"),
    ("Err_1042", "err1042"),
    ("E1042", "e1042"),
    ("SQL-00942", "sql00942"),
    ("CAMT.053", "camt053"),
    ("0x80004005", "0x80004005"),
    ("0X80004005", "0x80004005"),
])
def test_error_code_is_one_term(text, code):
    assert error_codes(f"message {text} affiché") == [code]
    assert CODE_PREFIX + code in analyze(text)


def test_error_code_digits_are_a_term_too():
    assert analyze("ERR-1042") == [CODE_PREFIX + "err1042", "1042"]
    assert "1042" in analyze("erreur 1042")


@pytest.mark.parametrize("text", ["W10", "v12", "ERR-42", "1042", "S21.G00.40", "EAN-13"])
def test_not_error_codes(text):
    assert error_codes(text) == []


def test_error_code_at_end_of_sentence():
    assert error_codes("Le BL refuse : ERR-1042.") == ["err1042"]
    assert error_codes("(SQL-00942)") == ["sql00942"]


@pytest.mark.parametrize("text, expected", [
    ("pb de connexion", ["connexion"]),  # pb means "problème", a stop word
    ("bjr svp stp slt cdlt", []),
    ("qd je valide ds le module pr la compta", ["valid", "modul", "compt"]),
    ("mdp perdu", ["mot", "pass", "perdu"]),
    ("qte dispo", ["quant", "dispon"]),
])
def test_sms_forms(text, expected):
    assert analyze(text) == expected


@pytest.mark.parametrize("short, long", [
    ("BL", "bon de livraison"),
    ("bl", "bons de livraison"),
    ("OF", "ordre de fabrication"),
    ("BC", "bon de commande"),
    ("cde", "commande"),
    ("CP", "congés payés"),
    ("compta", "comptabilité"),
    ("exo", "exercice"),
    ("FEC", "fichier des écritures comptables"),
])
def test_builtin_abbreviations(short, long):
    assert analyze(short) == analyze(long)


def test_abbreviation_that_is_a_stop_word_needs_capitals():
    assert analyze("le CA du mois") == ["chiffr", "affair", "mois"]
    assert analyze("ça bloque le mois") == ["bloqu", "mois"]
    assert analyze("ca bloque") == ["bloqu"]


def test_capitalised_stop_words_still_dropped():
    assert analyze("LE BON DE LIVRAISON NE VEUT PAS SE VALIDER") == analyze("bon de livraison valider")


def test_abbreviations_users_type_as_such_stay_terms():
    assert analyze("TVA") == ["tva"]
    assert analyze("DSN") == ["dsn"]


def test_admin_synonyms_extend_builtin_ones():
    synonyms = parse_synonyms("BLF = bon de livraison fournisseur\nOT = ordre de transfert")
    assert analyze("BLF et OT", synonyms) == analyze("bon de livraison fournisseur et ordre de transfert")
    assert analyze("BL", synonyms) == analyze("bon de livraison")  # built-in still there
    assert analyze("BLF") == ["blf"]  # without the admin list


def test_admin_synonym_replaces_builtin():
    assert analyze("BL", parse_synonyms("BL = bordereau")) == ["bordereau"]
    assert analyze("BL", parse_synonyms("BL = BL")) == ["bl"]  # turns the built-in off


def test_synonym_with_several_forms_and_meanings():
    synonyms = parse_synonyms("PV, PVs = procès-verbal, compte rendu")
    assert analyze("PV", synonyms) == analyze("procès-verbal compte rendu")
    assert analyze("les PVs", synonyms) == analyze("procès-verbal compte rendu")


def test_synonym_with_empty_meaning_drops_the_form():
    assert analyze("cordialement Jean-Pierre", parse_synonyms("jean, pierre =")) == []


def test_several_word_form_matches_through_stop_words():
    synonyms = parse_synonyms("délai de livraison = DDL")
    assert analyze("le délai de livraison", synonyms) == ["ddl"]
    assert analyze("les délais de la livraison", synonyms) == ["ddl"]


def test_capitalised_stop_word_kept_as_meaning():
    assert analyze("chiffre ventes", parse_synonyms("chiffre ventes = CA")) == ["ca"]


def test_synonym_form_with_number():
    synonyms = parse_synonyms("erreur 404 = page introuvable")
    assert analyze("une erreur 404", synonyms) == analyze("page introuvable")
    assert analyze("ERR-404", synonyms) == [CODE_PREFIX + "err404", "404"]  # not inside a code


def test_synonym_meanings_are_not_expanded_again():
    synonyms = parse_synonyms("X1 = BL")
    assert analyze("X1", synonyms) == ["bl"]


@pytest.mark.parametrize("value", [
    "BL = bon de livraison\n\n# a comment\nOF = ordre de fabrication",
    ["BL = bon de livraison", "", "OF = ordre de fabrication"],
    [("BL", "bon de livraison"), ("OF", ["ordre de fabrication"])],
    {"BL": ["bon de livraison"], "OF": "ordre de fabrication"},
])
def test_parse_synonyms_formats(value):
    assert parse_synonyms(value) == {"BL": ["bon de livraison"], "OF": ["ordre de fabrication"]}


@pytest.mark.parametrize("text, line, words", [
    ("BL = bon de livraison\nOF ordre de fabrication", 2, ["has no '='", "BL = bon de livraison"]),
    ("\n = commande", 2, ["nothing on the left"]),
    ("BL = ok\n-- = tiret", 2, ["contains no word"]),
    ("P.V. = procès-verbal", 1, ["'P.V.' contains no word of two letters or more"]),
])
def test_parse_synonyms_errors_name_the_line(text, line, words):
    with pytest.raises(SynonymError) as caught:
        parse_synonyms(text)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}: ")
    for word in words:
        assert word in str(caught.value)


def test_parse_synonyms_rejects_bad_row():
    with pytest.raises(SynonymError) as caught:
        parse_synonyms([("BL", "bon de livraison"), 42])
    assert caught.value.line == 2


def test_builtin_list_parses():
    synonyms = parse_synonyms(BUILTIN_SYNONYMS_TEXT)
    assert synonyms["BL"] == ["bon de livraison"]
    assert synonyms["svp"] == []


def test_none_and_empty_synonyms_mean_builtin_only():
    assert analyze("BL cde", None) == analyze("BL cde", {}) == analyze("bon de livraison commande")
