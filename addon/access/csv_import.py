"""Import of subscriptions and key users from a CSV file, all lines or none.

One line per organisation, with a header row. Columns (French or English names, any order):
organisation (id or exact name), contract reference, start date, end date, SLA tier, key users'
e-mails (separated by ";" or ","), and optionally status, seat limit and the main contact's e-mail.
The file is UTF-8 with or without a BOM, delimited by "," or ";" (French Excel writes ";"). Dates
are YYYY-MM-DD or DD/MM/YYYY.

Every line is checked before anything is written. A file with any bad line imports nothing, and
the report lists each failing line with every problem found on it. A good file is imported in one
transaction. Then each subscription that is active without an activation request is presented,
and the report says per subscription whether its activation request was opened, or why not.
"""

import csv
import io
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from ..errors import AddonError, InvalidInput
from .keyusers import today
from .models import SubscriptionStatus
from .subscriptions import (
    CONTRACT_REFERENCE_MAX_CHARS,
    SLA_TIER_MAX_CHARS,
    audit,
    clean_seat_limit,
    database,
    desk_organizations,
    do_add_key_user,
    do_save,
    find_subscription,
    key_users_of,
    organization_members,
    present,
)

log = logging.getLogger(__name__)

MAX_LINES = 5000
# Header names accepted for each column, compared without accents, case or punctuation.
COLUMNS = {
    "organization": ("organisation", "organization", "organisation_id", "organization_id", "org"),
    "contract_reference": ("contract_reference", "reference_contrat", "reference_du_contrat", "contrat",
                           "contract", "reference"),
    "starts_on": ("start_date", "starts_on", "date_de_debut", "debut", "start"),
    "ends_on": ("end_date", "ends_on", "date_de_fin", "fin", "end"),
    "sla_tier": ("sla_tier", "sla", "niveau_sla", "niveau_de_sla"),
    "key_users": ("key_users", "key_user_emails", "emails", "e_mails", "utilisateurs_cles",
                  "e_mails_des_utilisateurs_cles", "emails_des_utilisateurs_cles"),
    "status": ("status", "statut"),
    "seat_limit": ("seat_limit", "seats", "places", "limite_de_places"),
    "main_contact": ("main_contact", "main_contact_email", "contact_principal", "e_mail_du_contact_principal",
                     "email_du_contact_principal", "contact"),
}
REQUIRED = ("organization", "contract_reference", "starts_on")
STATUS_NAMES = {"active": SubscriptionStatus.ACTIVE, "actif": SubscriptionStatus.ACTIVE,
                "suspended": SubscriptionStatus.SUSPENDED,
                "suspendu": SubscriptionStatus.SUSPENDED, "expired": SubscriptionStatus.EXPIRED,
                "expire": SubscriptionStatus.EXPIRED}


@dataclass
class Line:
    number: int
    organization: dict
    fields: dict
    status: str | None
    account_ids: list = field(default_factory=list)
    # The main contact's accountId when the line names one.
    main_contact: str | None = None


class LineError(Exception):
    """A problem of one CSV line, as a bilingual "français / English" sentence."""


class LineErrors(Exception):
    """Every problem found on one CSV line, as a list of LineError messages."""

    def __init__(self, messages):
        super().__init__(" ".join(messages))
        self.messages = messages


def _checked(problems, check, *args):
    """Return check(*args); on LineError, record its message in `problems` and return None."""
    try:
        return check(*args)
    except LineError as error:
        problems.append(str(error))
        return None


def _plain(text):
    """Lower-case `text` without accents, runs of other characters turned into "_"."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def decode(content):
    if isinstance(content, str):
        return content.lstrip("\ufeff")
    try:
        return content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InvalidInput("Le fichier n'est pas en UTF-8 ; enregistrez-le en « CSV UTF-8 » et réessayez. "
                           "/ The file is not UTF-8; save it as “CSV UTF-8” and try again.") from None


def read_rows(text):
    """Return (column name per index, [(line number, cells)]) of the CSV `text`."""
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    header = next(reader, None)
    if not header:
        raise InvalidInput("Le fichier est vide ; ajoutez une ligne d'en-tête et une ligne par organisation. "
                           "/ The file is empty; add a header row and one line per organization.")
    aliases = {alias: name for name, names in COLUMNS.items() for alias in names}
    columns = [aliases.get(_plain(cell)) for cell in header]
    missing = [name for name in REQUIRED if name not in columns]
    if missing:
        names = ", ".join(COLUMNS[name][0] for name in missing)
        raise InvalidInput(f"Colonnes manquantes dans l'en-tête : {names}. / Columns missing from the header: {names}.")
    rows = []
    for cells in reader:
        if any(cell.strip() for cell in cells):
            rows.append((reader.line_num, cells))
        if len(rows) > MAX_LINES:
            raise InvalidInput(f"Le fichier dépasse {MAX_LINES} lignes ; découpez-le. "
                               f"/ The file has more than {MAX_LINES} lines; split it.")
    return columns, rows


def parse_csv_day(value, label_fr, label_en):
    value = value.strip()
    for pattern in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(value, pattern).date()
        except ValueError:
            continue
    raise LineError(f"{label_fr} « {value} » n'est pas une date AAAA-MM-JJ ou JJ/MM/AAAA. "
                    f"/ {label_en} “{value}” is not a YYYY-MM-DD or DD/MM/YYYY date.")


class Directory:
    """The desk's organisations and their members' e-mails, fetched from Jira once per import."""

    def __init__(self, installation):
        self.organizations = desk_organizations(installation)
        self.members = {org["id"]: organization_members(installation, org["id"]) for org in self.organizations}

    def organization(self, value):
        value = value.strip()
        for organization in self.organizations:
            if value in (organization["id"], organization["name"]):
                return organization
        raise LineError(f"Organisation inconnue « {value} » : indiquez son id ou son nom exact. "
                        f"/ Unknown organization “{value}”: give its id or exact name.")

    def account_of(self, email, organization):
        """Return the accountId of `email` among the members of `organization`.

        With `organization` None (unknown on its line), only check that some organisation of the
        desk has a member with that address.
        """
        expected = email.casefold()
        for member in self.members[organization["id"]] if organization else ():
            if (member["email"] or "").casefold() == expected:
                return member["account_id"]
        if any((member["email"] or "").casefold() == expected
               for members in self.members.values() for member in members):
            if organization is None:
                return None
            raise LineError(f"L'adresse {email} n'est pas membre de l'organisation {organization['name']}. "
                            f"/ Address {email} is not a member of organization {organization['name']}.")
        raise LineError(f"Adresse e-mail inconnue dans Jira : {email}. / E-mail address unknown in Jira: {email}.")


def _contract_reference(value):
    if not value or len(value) > CONTRACT_REFERENCE_MAX_CHARS:
        raise LineError(f"La référence du contrat doit faire 1 à {CONTRACT_REFERENCE_MAX_CHARS} caractères. "
                        f"/ The contract reference must be 1 to {CONTRACT_REFERENCE_MAX_CHARS} characters long.")
    return value


def _sla_tier(value):
    if len(value) > SLA_TIER_MAX_CHARS:
        raise LineError(f"Le niveau de SLA dépasse {SLA_TIER_MAX_CHARS} caractères. "
                        f"/ The SLA tier is longer than {SLA_TIER_MAX_CHARS} characters.")
    return value


def _seat_limit(value):
    try:
        return clean_seat_limit(value)
    except AddonError as error:
        raise LineError(error.message) from None


def _status(value, ends_on):
    status = STATUS_NAMES.get(_plain(value))
    if status is None:
        raise LineError(f"Statut inconnu « {value} » ; utilisez active, suspended ou expired "
                        f"(ou actif, suspendu, expiré). / Unknown status “{value}”; use active, suspended "
                        "or expired.")
    if status == SubscriptionStatus.ACTIVE and ends_on is not None and ends_on < today():
        raise LineError(f"Statut actif impossible : la date de fin {ends_on} est passée. "
                        f"/ Status active is impossible: the end date {ends_on} has passed.")
    return status


def parse_line(number, cells, columns, directory, seen):
    """Return the Line of one CSV row, or raise LineErrors listing every problem found on it."""
    values = {name: cells[index].strip() for index, name in enumerate(columns) if name and index < len(cells)}
    problems = []
    organization = _checked(problems, directory.organization, values.get("organization", ""))

    reference = _checked(problems, _contract_reference, values.get("contract_reference", ""))
    starts_on = _checked(problems, parse_csv_day, values.get("starts_on", ""), "La date de début", "The start date")
    ends_on = None
    if values.get("ends_on"):
        ends_on = _checked(problems, parse_csv_day, values["ends_on"], "La date de fin", "The end date")
    if ends_on is not None and starts_on is not None and ends_on < starts_on:
        problems.append(f"La date de fin {ends_on} précède la date de début {starts_on}. "
                        f"/ The end date {ends_on} is before the start date {starts_on}.")
    fields = {"contract_reference": reference, "starts_on": starts_on, "ends_on": ends_on}
    tier = _checked(problems, _sla_tier, values.get("sla_tier", ""))
    if tier:
        fields["sla_tier"] = tier
    if values.get("seat_limit"):
        fields["seat_limit"] = _checked(problems, _seat_limit, values["seat_limit"])
    status = _checked(problems, _status, values["status"], ends_on) if values.get("status") else None

    if organization is not None:
        first_line = seen.setdefault(organization["id"], number)
        if first_line != number:
            problems.append(f"L'organisation {organization['name']} figure déjà ligne {first_line}. "
                            f"/ Organization {organization['name']} is already on line {first_line}.")

    emails = [email.strip() for email in re.split(r"[;,]", values.get("key_users", "")) if email.strip()]
    account_ids = [_checked(problems, directory.account_of, email, organization) for email in emails]
    main_contact = None
    if values.get("main_contact"):
        main_contact = _checked(problems, directory.account_of, values["main_contact"], organization)
        fields["main_contact_account_id"] = main_contact
    if problems:
        raise LineErrors(problems)
    return Line(number, organization, fields, status, list(dict.fromkeys(account_ids)), main_contact)


def check_stored(line, installation_id):
    """Raise LineErrors when `line`, applied to the stored subscription, breaks the seat limit or
    would activate a subscription that has no main contact (its activation request needs one)."""
    existing = find_subscription(database().session, installation_id, line.organization["id"])
    problems = []
    _checked(problems, check_seats, line, existing)
    _checked(problems, check_main_contact, line, existing)
    if problems:
        raise LineErrors(problems)


def check_main_contact(line, existing):
    status = line.status or (existing.status if existing is not None else None)
    has_contact = line.main_contact or (existing is not None and existing.main_contact_account_id)
    presented = existing is not None and existing.activation_issue_key
    if status == SubscriptionStatus.ACTIVE and not has_contact and not presented:
        raise LineError("Contact principal requis pour activer la souscription : ajoutez la colonne "
                        "main_contact avec l'e-mail d'un client de l'organisation, ou retirez le statut actif. "
                        "/ A main contact is required to activate the subscription: add the main_contact "
                        "column with the e-mail of a customer of the organization, or remove the active status.")


def check_seats(line, existing):
    limit = line.fields.get("seat_limit", existing.seat_limit if existing is not None else None)
    current = {key_user.account_id for key_user in key_users_of(existing.id)} if existing is not None else set()
    count = len(current | set(line.account_ids))
    if limit is not None and count > limit:
        raise LineError(f"{count} utilisateurs clés pour {limit} places ; retirez-en ou augmentez la limite. "
                        f"/ {count} key users for {limit} seats; remove some or raise the limit.")


def line_error(number, messages):
    """Return the report entry of a failing line: every problem in `messages`, and all of them in `message`."""
    return {"line": number, "messages": messages, "message": " ".join(messages)}


def validate(installation, content):
    """Return (lines, errors) of the CSV `content`; errors are [{"line", "messages", "message"}]."""
    columns, rows = read_rows(decode(content))
    directory = Directory(installation)
    lines, errors, seen = [], [], {}
    for number, cells in rows:
        try:
            line = parse_line(number, cells, columns, directory, seen)
            check_stored(line, installation.id)
            lines.append(line)
        except LineErrors as error:
            errors.append(line_error(number, error.messages))
        except LineError as error:
            errors.append(line_error(number, [str(error)]))
    if not rows:
        errors.append(line_error(1, ["Aucune ligne de données après l'en-tête. / No data line after the header."]))
    return lines, errors


def import_csv(installation, actor, content, dry_run=False):
    """Validate `content` and, when every line is good and not `dry_run`, import it; return the report."""
    lines, errors = validate(installation, content)
    report = {"imported": False, "dry_run": dry_run, "lines": len(lines) + len(errors), "errors": errors,
              "created": [], "updated": [], "key_users_added": 0, "activations": []}
    if errors or dry_run:
        return report

    to_present = []
    with database().transaction() as session:
        for line in lines:
            subscription, created = do_save(session, installation.id, actor, line.organization, line.fields,
                                            line.status)
            present_now = subscription.status == SubscriptionStatus.ACTIVE and not subscription.activation_issue_key
            if present_now:
                to_present.append(subscription)
            current = {key_user.account_id for key_user in key_users_of(subscription.id, session)}
            for account_id in line.account_ids:
                if account_id not in current:
                    do_add_key_user(session, installation.id, actor, subscription, account_id)
                    report["key_users_added"] += 1
            entry = {"line": line.number, "organization_id": line.organization["id"],
                     "organization_name": line.organization["name"]}
            report["created" if created else "updated"].append(entry)
        audit(session, installation.id, actor, "csv_imported",
              f"Imported {len(lines)} subscriptions from a CSV file",
              created=len(report["created"]), updated=len(report["updated"]),
              key_users_added=report["key_users_added"])
    report["imported"] = True
    log.info("CSV import for client_key %s: %s created, %s updated, %s key users added", installation.client_key,
             len(report["created"]), len(report["updated"]), report["key_users_added"])

    for subscription in to_present:
        issue_key, error = present(installation, actor, subscription)
        report["activations"].append({"organization_id": subscription.organization_id,
                                      "organization_name": subscription.organization_name,
                                      "issue_key": issue_key, "error": error})
    return report
