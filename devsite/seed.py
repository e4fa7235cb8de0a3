"""Seed data of the local Jira site. Ids are stable: tests and the add-on's docs rely on them."""

import datetime

from .records import Issue, Organization, RequestType, ServiceDesk, User

CLOUD_ID = "devsite-cloud-0001"
CLIENT_KEY = "jira:devsite-0001"
PROJECT_ID = "10000"
FIRST_ISSUE_ID = 10001
FIRST_COMMENT_ID = 10000

STATUSES = {
    # name -> (status id, status category key)
    "Open": ("1", "new"),
    "In Progress": ("3", "indeterminate"),
    "Waiting for customer": ("10001", "indeterminate"),
    "Waiting for support": ("10002", "indeterminate"),
    "Resolved": ("5", "done"),
    "Closed": ("6", "done"),
}
# Transition id and name that lead to each status; Jira's workflows name transitions, not targets.
TRANSITIONS = {
    "Open": ("61", "Reopen"),
    "In Progress": ("11", "Start progress"),
    "Waiting for customer": ("21", "Respond to customer"),
    "Waiting for support": ("31", "Respond to support"),
    "Resolved": ("41", "Resolve this issue"),
    "Closed": ("51", "Close"),
}
CUSTOMER_VISIBLE_STATUSES = {"Waiting for customer", "Resolved", "Closed"}
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
]


def users():
    agent_groups = ["jira-servicedesk-users"]
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
              "Open", "cust-alice", "1", "11", "email", opened, opened, organizations=["1"]),
        Issue(str(FIRST_ISSUE_ID + 1), "SUP-2", "Question sur les bons de livraison",
              "Comment livrer partiellement une commande ?",
              "Open", "cust-chloe", "1", "12", "portal", opened + datetime.timedelta(hours=2),
              opened + datetime.timedelta(hours=2), organizations=["2"]),
    ]
