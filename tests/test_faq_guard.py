"""The out-of-scope guard: training and customisation requests, French and English, and the support
questions that mention a report, a field, a training or a script and must stay support."""

import pytest

from addon.faq.guard import CUSTOMISATION, SCOPES, SUPPORT, TRAINING, classify_scope, scope_scores


@pytest.mark.parametrize("text", [
    "Nous souhaitons organiser une formation sur le module comptabilité",
    "besoin d'une session de formation paie pour trois personnes",
    "Pouvez-vous former nos équipes à la gestion de production ?",
    "il faudrait la former sur l’ERP",
    "comment apprendre à utiliser le module achats quand on débute",
    "je voudrais un tutoriel complet sur les immobilisations",
    "une journée de FORMATION sur l'inventaire",
    "un webinaire sur les nouveautés de la version 12",
    "prise en main de l'ERP par un nouvel utilisateur",
    "Could you organise a training session for our warehouse staff?",
    "can you teach us how to use the MRP",
    "we need training on accounting",
])
def test_training_requests(text):
    assert classify_scope(text) == TRAINING


@pytest.mark.parametrize("text", [
    "nous voudrions un développement spécifique pour les commissions",
    "dev spé : un nouvel écran de suivi des retours",
    "personnaliser l'état de la facture avec notre logo",
    "modifier le rapport des ventes pour ajouter la marge",
    "ajouter un champ « numéro de silo » sur la fiche article",
    "ajout d'une zone libre sur les commandes",
    "est-il possible de rajouter un bouton sur le bon de livraison",
    "pouvez-vous nous écrire un script pour importer les commandes",
    "paramétrage sur mesure du circuit d'approbation",
    "créer un nouvel état de suivi des lots",
    "adapter l'écran de saisie des commandes",
    "modifier la maquette du bulletin de paie",
    "can you customise the invoice layout",
    "we need a custom report of sales by region",
    "please add a field for the truck number",
])
def test_customisation_requests(text):
    assert classify_scope(text) == CUSTOMISATION


@pytest.mark.parametrize("text", [
    "Je n'arrive pas à valider mon bon de livraison",
    "le rapport des ventes ne s'affiche plus",
    "le rapport des ventes affiche une erreur SQL-00942",
    "le champ date de livraison est vide sur le BL",
    "le champ IBAN est refusé sur la fiche fournisseur",
    "depuis la formation d'hier je n'arrive plus à me connecter",
    "la formation prévue jeudi a été annulée et j'ai maintenant une erreur AUTH-403",
    "le script de sauvegarde nocturne a échoué",
    "le tutoriel sur les filtres ne correspond pas à ma version",
    "personnalisation des listes : ma vue enregistrée a disparu",
    "le modèle de facture personnalisé n'imprime plus le logo",
    "l'état des écarts d'inventaire est vide",
    "l'impression du rapport d'inventaire est coupée",
    "ajouter un compte au plan comptable",
    "créer un nouveau fournisseur",
    "ordre de fabrication bloqué",
    "the invoice report shows the wrong VAT rate",
    "custom fields missing after the update, error SQL-00942",
    "I cannot log in, my account is locked",
    "",
    "bonjour",
])
def test_support_questions_stay_support(text):
    assert classify_scope(text) == SUPPORT


def test_problem_words_lower_both_scores():
    request = scope_scores("modifier le rapport des ventes")
    problem = scope_scores("modifier le rapport des ventes : erreur à l'ouverture")
    assert problem[CUSTOMISATION] < request[CUSTOMISATION]


def test_scores_zero_without_cues():
    assert scope_scores("facture client bloquée") == {TRAINING: 0.0, CUSTOMISATION: 0.0}


def test_scopes_are_the_three_values():
    assert SCOPES == ("support", "training", "customisation")
    assert classify_scope("formation") in SCOPES
