"""Seed data of the local Jira site. Ids are stable: tests and the add-on's docs rely on them."""

import datetime

from .records import Issue, Organization, RequestType, ServiceDesk, User
from .workflow import INITIAL_STATUS

CLOUD_ID = "devsite-cloud-0001"
CLIENT_KEY = "jira:devsite-0001"
PROJECT_ID = "10000"
FIRST_ISSUE_ID = 10001
FIRST_COMMENT_ID = 10000

# The statuses of JSM's service request workflow (devsite/workflow.py names the Atlassian pages):
# name -> (status id, status category key).
STATUSES = {
    "Waiting for support": ("10002", "new"),
    "In Progress": ("3", "indeterminate"),
    "Waiting for customer": ("10001", "indeterminate"),
    "Pending": ("10003", "indeterminate"),
    "Resolved": ("5", "done"),
    "Canceled": ("10004", "done"),
    "Closed": ("6", "done"),
}
# Jira's default priorities, highest first: name -> id.
PRIORITIES = {"Highest": "1", "High": "2", "Medium": "3", "Low": "4", "Lowest": "5"}
RESOLUTIONS = {"Done": "10000", "Won't Do": "10001", "Duplicate": "10002", "Cannot Reproduce": "10003"}

AGENT_PERMISSIONS = {"BROWSE_PROJECTS", "ADD_COMMENTS", "TRANSITION_ISSUES", "SERVICEDESK_AGENT",
                     "EDIT_ISSUES", "CREATE_ISSUES", "ASSIGN_ISSUES", "EDIT_OWN_COMMENTS",
                     "DELETE_OWN_COMMENTS", "USER_PICKER"}
ADMIN_PERMISSIONS = AGENT_PERMISSIONS | {"ADMINISTER_PROJECTS", "ADMINISTER", "EDIT_ALL_COMMENTS",
                                         "DELETE_ALL_COMMENTS"}
GLOBAL_PERMISSIONS = {"ADMINISTER", "USER_PICKER"}

KB_SPACE_KEY = "ERPKB"
KB_ARTICLES = [
    ("65537", "Créer un bon de livraison",
     "Depuis le module Ventes, ouvrez la commande client puis choisissez Livrer. Le bon de livraison "
     "reprend les lignes non encore livrées ; vérifiez les quantités avant de valider."),
    ("65538", "Clôturer un ordre de fabrication",
     "Un ordre de fabrication se clôture quand toutes les opérations sont déclarées. Ouvrez l'ordre, "
     "déclarez les quantités produites puis cliquez sur Clôturer."),
    ("65539", "Erreur E1024 à la validation d'une facture",
     "L'erreur E1024 signale une facture dont la période comptable est fermée. Rouvrez la période ou "
     "changez la date de la facture, puis validez de nouveau."),
    ("65540", "Paramétrer la TVA intracommunautaire",
     "Dans Comptabilité, Paramètres, Taxes, créez un code TVA autoliquidée et associez-le aux clients "
     "et fournisseurs de l'Union européenne qui ont un numéro de TVA."),
    ("65541", "Réinitialiser son mot de passe ERP",
     "Sur l'écran de connexion, choisissez Mot de passe oublié. Un lien valable une heure est envoyé "
     "à votre adresse ; l'administrateur peut aussi réinitialiser le mot de passe."),
    ("65542", "Importer des écritures comptables",
     "Préparez un fichier CSV au format indiqué, puis utilisez Comptabilité, Import. Les écritures "
     "déséquilibrées sont rejetées avec le numéro de ligne en erreur."),
    ("65543", "Saisir un inventaire tournant",
     "Dans Stocks, Inventaire, créez une session pour le dépôt et les emplacements à compter. Saisissez les "
     "quantités comptées ; l'écart de stock est passé en mouvement à la validation de la session."),
    ("65544", "Importer un relevé bancaire",
     "Dans Comptabilité, Banque, Import de relevé, choisissez le fichier au format CFONB ou CAMT.053. Les "
     "lignes déjà importées sont ignorées, et le rapprochement propose les écritures correspondantes."),
    ("65545", "Une facture ne s'imprime pas",
     "Vérifiez l'imprimante associée au poste dans Paramètres, Impression, puis le modèle d'édition de la "
     "facture. Un aperçu en PDF permet de savoir si le problème vient du modèle ou de l'imprimante."),
]


# Jira's default product access group of JSM: its members hold an agent licence.
JSM_LICENSE_GROUP = "jira-servicedesk-users"


def users():
    agent_groups = [JSM_LICENSE_GROUP]
    return [
        User("agent-camille", "Camille Martin", "camille.martin@editeur-erp.example", "atlassian",
             agent_groups + ["support-production"]),
        User("agent-hugo", "Hugo Bernard", "hugo.bernard@editeur-erp.example", "atlassian",
             agent_groups + ["support-finance"], locale="en_US"),
        User("admin-lea", "Léa Petit", "lea.petit@editeur-erp.example", "atlassian",
             agent_groups + ["jira-administrators", "site-admins"]),
        User("cust-alice", "Alice Durand", "alice.durand@fromagerie-durand.example", "customer"),
        User("cust-bruno", "Bruno Leroy", "bruno.leroy@fromagerie-durand.example", "customer"),
        User("cust-chloe", "Chloé Lefèvre", "chloe.lefevre@menuiserie-lefevre.example", "customer"),
        User("cust-damien", "Damien Roux", "damien.roux@menuiserie-lefevre.example", "customer"),
        # An Atlassian account licensed for Jira Software but not for JSM: an unlicensed user of the portal.
        User("dev-ines", "Inès Garnier", "ines.garnier@editeur-erp.example", "atlassian", ["jira-software-users"]),
    ]


def organizations():
    return [
        Organization("1", "Fromagerie Durand", ["cust-alice", "cust-bruno"]),
        Organization("2", "Menuiserie Lefèvre", ["cust-chloe", "cust-damien"]),
    ]


def service_desks():
    return [ServiceDesk("1", PROJECT_ID, "SUP", "Support ERP")]


def request_types():
    return [
        RequestType("10", "Chat", "Discuter en direct avec le support", "1"),
        RequestType("11", "Incident", "Signaler un incident sur l'ERP", "1"),
        RequestType("12", "Question", "Poser une question sur l'utilisation de l'ERP", "1"),
    ]


def issues():
    opened = datetime.datetime(2026, 9, 1, 8, 30, tzinfo=datetime.timezone.utc)
    return [
        Issue(str(FIRST_ISSUE_ID), "SUP-1", "Facture bloquée à la validation",
              "Bonjour, la facture FA-2026-0412 refuse de se valider avec l'erreur E1024.",
              INITIAL_STATUS, "cust-alice", "1", "11", "email", opened, opened, organizations=["1"]),
        Issue(str(FIRST_ISSUE_ID + 1), "SUP-2", "Question sur les bons de livraison",
              "Comment livrer partiellement une commande ?",
              INITIAL_STATUS, "cust-chloe", "1", "12", "portal", opened + datetime.timedelta(hours=2),
              opened + datetime.timedelta(hours=2), organizations=["2"]),
    ]

# Custom fields on the form of each request type (request type id -> fields), as a JSM admin adds
# them. A select list's JSM schema type is "option"; its values are its valid values.
REQUEST_TYPE_CUSTOM_FIELDS = {
    "10": [
        {"fieldId": "customfield_10050", "name": "Version de l'ERP", "type": "string", "values": []},
        {"fieldId": "customfield_10051", "name": "Environnement", "type": "option", "values": ["Production", "Test"]},
    ],
}
