"""The out-of-scope guard: tell training and customisation requests from support questions.

`classify_scope` reads the statement folded (lower case, no accents) and adds up the weights of
the cues it finds for each out-of-scope class, French first and English too. A class wins when its
total reaches its threshold. Describing something broken (an error, a message, "ne s'affiche
plus", an error code) takes PROBLEM_PENALTY off both totals, because a key user reporting that a
report or a field misbehaves, or a problem met after a training, needs support. That penalty is
what keeps "le rapport des ventes ne s'affiche plus" a support question while "modifier le
rapport des ventes" is a customisation. A false redirect annoys a key user more than a missed one,
so the single weak cues ("personnalisé", "script", "tutoriel") stay under the thresholds.
"""

import re

from .analysis import error_codes, fold

SUPPORT = "support"
TRAINING = "training"
CUSTOMISATION = "customisation"
SCOPES = (SUPPORT, TRAINING, CUSTOMISATION)

TRAINING_THRESHOLD = 2.0
CUSTOMISATION_THRESHOLD = 2.0
PROBLEM_PENALTY = 2.0
REQUEST_BONUS = 0.5

# Up to two determiners between a verb and its object: "modifier [le] rapport", "ajout [d'une] zone".
_DET = r"(?:(?:le|la|les|l|un|une|des|du|de|d|notre|nos|votre|vos|ce|cet|cette|ces|mon|ma|mes|leur|leurs|the|a|an|our|my|this)\s+){0,2}"
_NEW = r"(?:(?:nouvel|nouveau|nouvelle|nouveaux|nouvelles|autre|new|extra)\s+)?"
# The objects a customisation changes: the documents, screens and fields of the ERP.
_ARTEFACT = (
    r"(?:rapports?|etats?|editions?|maquettes?|modeles?|ecrans?|formulaires?|champs?|colonnes?|"
    r"boutons?|zones?|onglets?|rubriques?|menus?|interfaces?|connecteurs?|mise en page|"
    r"reports?|fields?|columns?|buttons?|screens?|layouts?|templates?|forms?)"
)

_TRAINING_CUES = (
    (r"\bformations?\b", 2.0),
    (r"\b(?:session|journee|plan|programme|module|cycle)s? de formation\b", 1.0),
    (r"\bformer " + _DET + r"(?:equipes?|collaborat\w+|utilisat\w+|salaries|personnel|comptables?|"
     r"nouveaux|nouvelles?|magasiniers|agents?|\w+s)\b", 2.0),
    (r"\b(?:la|le|les|nous|vous|leur|me|te)\s+former\b", 2.0),
    (r"\bapprendre\b", 2.0),
    (r"\b(?:tutoriel|tuto|guide|documentation) complet", 2.0),
    (r"\b(?:cours|webinaires?|webinars?|e-?learning|initiation)\b", 2.0),
    (r"\bprise en main\b", 1.5),
    (r"\b(?:montrer|expliquer|presenter)\b.{0,30}\bfonctionnement\b", 1.5),
    (r"\b(?:sais|sait|savons|savez|savent) (?:pas )?(?:se servir|utiliser|nous servir)\b", 1.0),
    (r"\b(?:accompagner|accompagnement)\b", 1.0),
    (r"\b(?:nouveaux arrivants|nouvel utilisateur|nouvelle utilisatrice|debutants?|debute)\b", 1.0),
    (r"\btraining\b", 2.0),
    (r"\btrain (?:our|my|the|new|us|them|staff|people)\b", 2.0),
    (r"\b(?:teach|learn|onboarding|workshop|course)\b", 2.0),
)

_CUSTOMISATION_CUES = (
    (r"\b(?:developpements?|dev) spe(?:cifiques?)?\b", 3.0),
    (r"\bspecifiques?\b", 1.0),
    (r"\b" + _ARTEFACT + r" (?:specifique|sur mesure)", 2.0),
    (r"\bdevelopp(?:er|ez|ons)\b", 2.0),
    (r"\bsur mesure\b", 2.5),
    (r"\bpersonnalis\w*", 1.5),
    (r"\bpersonnalis(?:er|ez|ation)\s+(?:de\s+)?" + _DET + _ARTEFACT, 1.0),
    (r"\b(?:modifier|changer|adapter|refaire|modification|adaptation)\s+(?:de\s+)?" + _DET + _ARTEFACT, 2.5),
    (r"\b(?:ajouter|rajouter|ajout|creer|creation)\s+(?:de\s+)?" + _DET + _NEW + _ARTEFACT, 3.0),
    (r"\b(?:nouvel|nouveau|nouvelle)\s+" + _ARTEFACT, 2.0),
    (r"\bscripts?\b", 1.0),
    (r"\b(?:ecrire|creer|faire|developper|coder|write|create)\s+" + _DET + r"(?:scripts?|macros?)\b", 2.0),
    (r"\bmacros?\b", 1.5),
    (r"\bevolutions?\b", 1.0),
    (r"\bcustomi[sz]\w*", 3.0),
    (r"\bcustom\b", 2.0),
    (r"\bspecific development\b", 3.0),
    (r"\b(?:add|modify|change|adapt|build)\s+" + _DET + _NEW + _ARTEFACT, 2.5),
)

# Words of a key user describing something broken, which makes the statement a support question.
_PROBLEM_CUES = (
    r"\b(?:erreurs?|error|errors|message|plante|planter|bloque|bloquee|bug|beug|crash\w*)\b",
    r"\bn (?:arrive|arrivons|imprime|apparait|apparaissent|affiche|fonctionne|marche|sort)\w* (?:plus|pas)\b",
    r"\bne (?:s )?(?:affiche|affichent|fonctionne|fonctionnent|marche|marchent|sort|sortent|imprime|"
    r"impriment|calcule|calculent|passe|passent|s ouvre|ouvre)\w* (?:plus|pas)\b",
    r"\b(?:disparu|disparue|disparus|echoue|echouee|echec|vide|vides|manque|manquant|manquants|"
    r"incorrect\w*|faux|fausse|impossible|verrouille|refuse)\b",
    r"\b(?:missing|fails|failed|failing|broken|wrong|no longer|not working|doesn t work|does not work|"
    r"cannot|can t|locked)\b",
)

_REQUEST_CUES = (
    r"\b(?:voudrais|voudrions|aimerais|aimerions|aimerait|souhait\w*|pouvez vous|pourriez vous|"
    r"est il possible|besoin|demande|could you|can you|we need|we would like|we want|please)\b"
)


def _compile(cues):
    return tuple((re.compile(pattern), weight) for pattern, weight in cues)


_TRAINING = _compile(_TRAINING_CUES)
_CUSTOMISATION = _compile(_CUSTOMISATION_CUES)
_PROBLEM = tuple(re.compile(pattern) for pattern in _PROBLEM_CUES)
_REQUEST = re.compile(_REQUEST_CUES)


def classify_scope(text: str) -> str:
    """Return "support", "training" or "customisation" for a key user's statement."""
    scores = scope_scores(text)
    training, customisation = scores[TRAINING], scores[CUSTOMISATION]
    if customisation >= CUSTOMISATION_THRESHOLD and customisation >= training:
        return CUSTOMISATION
    if training >= TRAINING_THRESHOLD:
        return TRAINING
    return SUPPORT


def scope_scores(text: str) -> dict[str, float]:
    """Return the cue totals of the two out-of-scope classes, penalty and bonus included."""
    folded = _normalise(text)
    training = _total(_TRAINING, folded)
    customisation = _total(_CUSTOMISATION, folded)

    adjustment = 0.0
    if error_codes(text) or any(pattern.search(folded) for pattern in _PROBLEM):
        adjustment -= PROBLEM_PENALTY
    if _REQUEST.search(folded):
        adjustment += REQUEST_BONUS
    return {
        TRAINING: training + adjustment if training else 0.0,
        CUSTOMISATION: customisation + adjustment if customisation else 0.0,
    }


def _normalise(text):
    """Return `text` folded, with apostrophes, hyphens and punctuation turned into single spaces."""
    return " ".join(re.sub(r"[^\w]+", " ", fold(text)).split())


def _total(cues, folded):
    return sum(weight for pattern, weight in cues if pattern.search(folded))
