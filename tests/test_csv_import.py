"""CSV import of subscriptions and key users against the local Jira site: good files import in
one transaction, a file with any bad line imports nothing and its report names each line."""

from pathlib import Path

import pytest
from sqlalchemy import func, select

from addon.access import csv_import, subscriptions
from addon.access.models import AuditEntry, KeyUser, Subscription
from addon.errors import InvalidInput

from .test_admin_api import ADMIN, CONTRACT, DURAND, admin_site  # noqa: F401  (fixture)

DATA_DIR = Path(__file__).parent / "data" / "csv"


@pytest.fixture
def site(admin_site):
    with admin_site.context():
        yield admin_site


def run(site, name, dry_run=False):
    return csv_import.import_csv(site.installation(), ADMIN, (DATA_DIR / name).read_bytes(), dry_run=dry_run)


def count(site, model):
    session = site.server.app.extensions["database"].session
    session.rollback()
    return session.execute(select(func.count(model.id))).scalar_one()


def key_users(site, organization_id):
    session = site.server.app.extensions["database"].session
    return sorted(session.execute(select(KeyUser.account_id).where(KeyUser.organization_id == organization_id))
                  .scalars())


def messages(report):
    return {error["line"]: error["message"] for error in report["errors"]}


def test_import_good_file(site):
    report = run(site, "good.csv")
    assert report["imported"]
    assert [entry["organization_id"] for entry in report["created"]] == ["1", "2"]
    assert report["key_users_added"] == 3
    assert key_users(site, "1") == ["cust-alice", "cust-bruno"]
    assert count(site, Subscription) == 2


def test_import_audited(site):
    run(site, "good.csv")
    session = site.server.app.extensions["database"].session
    actions = list(session.execute(select(AuditEntry.action).order_by(AuditEntry.id)).scalars())
    assert actions.count("key_user_added") == 3
    assert actions[-1] == "csv_imported"


def test_import_updates_existing(site):
    subscriptions.save_subscription(site.installation(), ADMIN, DURAND, CONTRACT)
    report = run(site, "good.csv")
    assert [entry["organization_id"] for entry in report["updated"]] == ["1"]
    session = site.server.app.extensions["database"].session
    row = session.execute(select(Subscription).where(Subscription.organization_id == "1")).scalar_one()
    assert row.contract_reference == "CT-2026-001"
    assert row.sla_tier == "premium"


def test_import_semicolons_bom_french_dates(site):
    report = run(site, "excel_fr.csv")
    assert report["errors"] == []
    session = site.server.app.extensions["database"].session
    row = session.execute(select(Subscription).where(Subscription.organization_id == "2")).scalar_one()
    assert row.starts_on.isoformat() == "2026-03-15"
    assert row.ends_on is None
    assert key_users(site, "1") == ["cust-alice", "cust-bruno"]


def test_import_bad_lines_nothing(site):
    report = run(site, "bad_lines.csv")
    assert not report["imported"]
    assert count(site, Subscription) == 0
    assert count(site, AuditEntry) == 0


def test_import_bad_lines_report(site):
    errors = messages(run(site, "bad_lines.csv"))
    assert sorted(errors) == [3, 4, 5, 6]
    assert "Organisation inconnue « Laiterie Inconnue »" in errors[3]
    assert "31-12-2026" in errors[4]
    assert "figure déjà ligne 2" in errors[5]
    assert "précède" in errors[6]


def test_import_bad_emails(site):
    errors = messages(run(site, "bad_emails.csv"))
    assert "Adresse e-mail inconnue dans Jira : nobody@example.invalid" in errors[2]
    assert "n'est pas membre de l'organisation Menuiserie Lefèvre" in errors[3]
    assert count(site, KeyUser) == 0


def test_import_every_problem_of_a_line(site):
    report = run(site, "bad_many.csv")
    lines = {error["line"]: error["messages"] for error in report["errors"]}
    assert sorted(lines) == [2, 3]
    first = lines[2]
    assert len(first) == 5
    assert "Organisation inconnue « Laiterie Inconnue »" in first[0]
    assert "La référence du contrat" in first[1]
    assert "La date de fin 2025-12-31 précède la date de début 2026-01-01" in first[2]
    assert "Statut inconnu « maybe »" in first[3]
    # With the organisation unknown, an address is checked against the whole desk only.
    assert "Adresse e-mail inconnue dans Jira : nobody@example.invalid" in first[4]
    second = lines[3]
    assert len(second) == 2
    assert "n'est pas membre de l'organisation Menuiserie Lefèvre" in second[0]
    assert "Adresse e-mail inconnue dans Jira : nobody@example.invalid" in second[1]
    assert messages(report)[3] == " ".join(second)
    assert count(site, Subscription) == 0


def test_import_seat_limit(site):
    errors = messages(run(site, "seat_limit.csv"))
    assert "2 utilisateurs clés pour 1 places" in errors[2]


def test_import_seat_limit_existing(site):
    subscriptions.save_subscription(site.installation(), ADMIN, DURAND, dict(CONTRACT, seat_limit=1))
    report = run(site, "good.csv")
    assert list(messages(report)) == [2]
    assert count(site, KeyUser) == 0


def test_import_dry_run(site):
    report = run(site, "good.csv", dry_run=True)
    assert report["errors"] == []
    assert not report["imported"]
    assert count(site, Subscription) == 0


def test_import_not_utf8(site):
    content = "organisation,contract_reference,start_date\nMenuiserie Lefèvre,CT,2026-01-01\n".encode("latin-1")
    with pytest.raises(InvalidInput, match="UTF-8"):
        csv_import.import_csv(site.installation(), ADMIN, content)


def test_import_missing_columns(site):
    with pytest.raises(InvalidInput, match="contract_reference"):
        csv_import.import_csv(site.installation(), ADMIN, b"organisation,start_date\n1,2026-01-01\n")


def test_import_unknown_status(site):
    content = b"organisation,contract_reference,start_date,status\n1,CT,2026-01-01,maybe\n"
    errors = messages(csv_import.import_csv(site.installation(), ADMIN, content))
    assert "maybe" in errors[2]


def test_import_active_presents(site):
    content = ("organisation,contract_reference,start_date,status,main_contact\n"
               "1,CT,2026-01-01,actif,alice.durand@fromagerie-durand.example\n").encode()
    report = csv_import.import_csv(site.installation(), ADMIN, content)
    assert report["imported"]
    session = site.server.app.extensions["database"].session
    row = session.execute(select(Subscription)).scalar_one()
    assert row.status == "active"
    assert row.main_contact_account_id == "cust-alice"
    [activation] = report["activations"]
    assert activation["organization_id"] == "1"
    assert activation["issue_key"] == row.activation_issue_key
    assert activation["issue_key"] is not None
    assert activation["error"] is None


def test_import_active_needs_main_contact(site):
    content = b"organisation,contract_reference,start_date,status\n1,CT,2026-01-01,actif\n"
    report = csv_import.import_csv(site.installation(), ADMIN, content)
    assert not report["imported"]
    assert "Contact principal requis pour activer" in messages(report)[2]
    assert "main_contact" in messages(report)[2]
    assert count(site, Subscription) == 0


def test_import_main_contact_not_member(site):
    content = ("organisation,contract_reference,start_date,status,contact_principal\n"
               "1,CT,2026-01-01,actif,chloe.lefevre@menuiserie-lefevre.example\n").encode()
    errors = messages(csv_import.import_csv(site.installation(), ADMIN, content))
    assert "n'est pas membre de l'organisation Fromagerie Durand" in errors[2]
    assert count(site, Subscription) == 0


def test_import_active_existing_contact(site):
    # A stored main contact is enough: the line need not repeat it.
    subscriptions.save_subscription(site.installation(), ADMIN, DURAND, CONTRACT)
    content = b"organisation,contract_reference,start_date,status\n1,CT,2026-01-01,active\n"
    report = csv_import.import_csv(site.installation(), ADMIN, content)
    assert report["imported"]
    assert report["activations"][0]["issue_key"] is not None
