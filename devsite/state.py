"""The in-memory state of the local Jira site, behind one lock.

`site` is the only instance. Read it and call its mutation methods while holding `site.lock`
when you need a consistent view of several records; each mutation method takes the lock itself.
Mutations notify `site.listeners` (the webhook dispatcher) synchronously, still under the lock,
so that a listener sees the issue exactly as the mutation left it.
"""

import logging
import threading
from urllib.parse import urlsplit

from . import seed, workflow
from .records import Comment, Issue, now

log = logging.getLogger(__name__)

DEFAULT_SWITCHES = {
    "impersonate_customers": True,
    "webhook_comment_body": "v2",
    "jsm_context_params": "servicedesk",
}


class SiteError(Exception):
    """A request the site rejects; `status` is the HTTP status a REST route returns."""

    status = 400


class NotFound(SiteError):
    status = 404


class Forbidden(SiteError):
    status = 403


class Site:
    def __init__(self):
        self.lock = threading.RLock()
        self.listeners = []
        self.base_url = "http://127.0.0.1:2990"
        self.cloud_id = seed.CLOUD_ID
        self.client_key = seed.CLIENT_KEY
        self.reset()

    @property
    def base_path(self):
        return urlsplit(self.base_url).path.rstrip("/")

    def configure(self, base_url):
        self.base_url = base_url.rstrip("/")

    def reset(self):
        """Go back to the seed data: no apps, no faults, default switches, empty logs."""
        with self.lock:
            self.users = {user.account_id: user for user in seed.users()}
            self.organizations = {org.id: org for org in seed.organizations()}
            self.service_desks = {desk.id: desk for desk in seed.service_desks()}
            self.request_types = {rtype.id: rtype for rtype in seed.request_types()}
            self.issues = {issue.key: issue for issue in seed.issues()}
            self.workflow = workflow.service_request_transitions()
            self.apps = {}
            self.faults = []
            self.switches = dict(DEFAULT_SWITCHES)
            self.request_log = []
            self.webhook_log = []
            self.notifications = []
            self.access_tokens = {}  # token -> {"app_key", "account_id", "expires_at"}
            self.temporary_attachments = {}  # id -> {"filename", "content_type", "size", "desk_id"}
            self.attachment_content = {}  # attachment id -> bytes (kept out of the issue records)
            # The service desk's knowledge base: Confluence page id -> {"title", "body", "space_key"}.
            self.kb_articles = {page_id: {"title": title, "body": body, "space_key": seed.KB_SPACE_KEY}
                                for page_id, title, body in seed.KB_ARTICLES}
            self._next_issue_number = len(self.issues) + 1
            self._next_issue_id = seed.FIRST_ISSUE_ID + len(self.issues)
            self._next_comment_id = seed.FIRST_COMMENT_ID
            self._next_id = 50000  # organisations, customers, attachments

    # -- lookups ---------------------------------------------------------------------------

    def user(self, account_id):
        user = self.users.get(account_id)
        if user is None:
            raise NotFound(f"No user with accountId {account_id!r} exists on this site.")
        return user

    def issue(self, key_or_id):
        with self.lock:
            issue = self.issues.get(str(key_or_id).upper())
            if issue is None:
                issue = next((i for i in self.issues.values() if i.id == str(key_or_id)), None)
        if issue is None:
            raise NotFound(f"Issue {key_or_id!r} does not exist or you do not have permission to see it.")
        return issue

    def find_comment(self, comment_id):
        """Return (issue, comment) for a comment id, whatever its issue."""
        with self.lock:
            for issue in self.issues.values():
                comment = issue.comment(comment_id)
                if comment is not None:
                    return issue, comment
        raise NotFound(f"Comment {comment_id!r} does not exist.")

    def app(self, app_key):
        return self.apps.get(app_key)

    def app_by_account_id(self, account_id):
        return next((app for app in self.apps.values() if app.account_id == account_id), None)

    def organizations_of(self, account_id):
        return [org for org in self.organizations.values() if account_id in org.members]

    def is_agent(self, account_id):
        """True for app users and for Atlassian accounts with a JSM licence, false for the others.

        Customers (portal only) have no licence. An Atlassian account outside JSM's product access
        group, such as a Jira Software user, is an unlicensed user of JSM: the portal treats it as
        a customer.
        """
        user = self.users.get(account_id)
        if user is None:
            return False
        if user.account_type == "app":
            return True
        return user.account_type == "atlassian" and seed.JSM_LICENSE_GROUP in user.groups

    def is_admin(self, account_id):
        user = self.users.get(account_id)
        return user is not None and "jira-administrators" in user.groups

    def permissions(self, account_id, project_key=None):
        """Return the permission keys of `account_id` on project `project_key`, or its global ones."""
        if self.is_admin(account_id):
            granted = seed.ADMIN_PERMISSIONS
        elif self.is_agent(account_id):
            granted = seed.AGENT_PERMISSIONS
        else:
            # Portal customers hold no project permission: JSM lets them see and comment on
            # their own requests through the portal and the servicedeskapi only.
            granted = set()
        if project_key is None:
            return granted & seed.GLOBAL_PERMISSIONS
        if project_key not in {desk.project_key for desk in self.service_desks.values()}:
            return set()
        return set(granted)

    def can_view(self, account_id, issue):
        """Check whether `account_id` may see `issue`: agents always, customers as JSM shares requests."""
        if self.is_agent(account_id):
            return True
        if account_id is None or account_id not in self.users:
            return False
        if issue.reporter == account_id or account_id in issue.participants:
            return True
        member_of = {org.id for org in self.organizations_of(account_id)}
        return bool(member_of & set(issue.organizations))

    def workflow_transitions(self, issue):
        """Return the workflow Transitions that leave the issue's current status (none from a final one)."""
        with self.lock:
            return [transition for transition in self.workflow if transition.leaves(issue.status)]

    def transitions_for(self, issue):
        """List the transitions out of the issue's status as (id, name, target status) tuples."""
        return [(t.id, t.name, t.target) for t in self.workflow_transitions(issue)]

    def renumber_transitions(self, new_ids):
        """Assign new ids to the workflow transitions (`new_ids` maps old id to new id), as on another site."""
        with self.lock:
            try:
                self.workflow = workflow.renumbered(self.workflow, new_ids)
            except ValueError as error:
                raise SiteError(str(error)) from None

    def new_id(self):
        with self.lock:
            self._next_id += 1
            return str(self._next_id)

    # -- mutations -------------------------------------------------------------------------

    def add_comment(self, issue_key, author_account_id, body, public, properties=None, via="ui"):
        """Add a comment; `properties` with sd.public.comment {"internal": true} makes it internal."""
        with self.lock:
            issue = self.issue(issue_key)
            self.user(author_account_id)
            properties = dict(properties or {})
            internal = properties.get("sd.public.comment", {})
            if isinstance(internal, dict) and internal.get("internal") is True:
                public = False
            if not public:
                # JSM marks internal comments with this property, whichever API created them.
                properties["sd.public.comment"] = {"internal": True}
            moment = now()
            self._next_comment_id += 1
            comment = Comment(str(self._next_comment_id), author_account_id, body, bool(public),
                              moment, moment, properties, author_account_id, via)
            issue.comments.append(comment)
            issue.updated = moment
            self._emit("comment_created", issue, author_account_id, comment=comment)
            self._emit("jira:issue_updated", issue, author_account_id, comment=comment,
                       issue_event_type_name="issue_commented")
            return comment

    def update_comment(self, issue_key, comment_id, actor_account_id, body, properties=None):
        with self.lock:
            issue = self.issue(issue_key)
            comment = issue.comment(comment_id)
            if comment is None:
                raise NotFound(f"Comment {comment_id!r} does not exist on issue {issue.key}.")
            comment.body = body
            if properties:
                comment.properties.update(properties)
            comment.updated = now()
            comment.update_author = actor_account_id
            issue.updated = comment.updated
            self._emit("comment_updated", issue, actor_account_id, comment=comment)
            self._emit("jira:issue_updated", issue, actor_account_id, comment=comment,
                       issue_event_type_name="issue_comment_edited")
            return comment

    def delete_comment(self, issue_key, comment_id, actor_account_id):
        with self.lock:
            issue = self.issue(issue_key)
            comment = issue.comment(comment_id)
            if comment is None:
                raise NotFound(f"Comment {comment_id!r} does not exist on issue {issue.key}.")
            issue.comments.remove(comment)
            issue.updated = now()
            self._emit("comment_deleted", issue, actor_account_id, comment=comment)
            self._emit("jira:issue_updated", issue, actor_account_id, comment=comment,
                       issue_event_type_name="issue_comment_deleted")
            return comment

    def transition(self, issue_key, actor_account_id, to_status, resolution=None):
        """Move the issue to status `to_status` (a name) by the transition that leads there, else raise SiteError."""
        with self.lock:
            issue = self.issue(issue_key)
            found = [t for t in self.workflow_transitions(issue) if t.target == to_status]
            if not found:
                raise SiteError(self._no_transition(issue, f"to {to_status!r}"))
            return self.apply_transition(issue, actor_account_id, found[0], resolution)

    def transition_by_id(self, issue_key, actor_account_id, transition_id, resolution=None):
        """Apply transition `transition_id` if it leaves the issue's current status, else raise SiteError."""
        with self.lock:
            issue = self.issue(issue_key)
            found = [t for t in self.workflow_transitions(issue) if t.id == str(transition_id)]
            if not found:
                raise SiteError(self._no_transition(issue, f"with id {str(transition_id)!r}"))
            return self.apply_transition(issue, actor_account_id, found[0], resolution)

    def _no_transition(self, issue, wanted):
        available = ", ".join(f"{t.id} {t.name} -> {t.target}" for t in self.workflow_transitions(issue))
        if not available:
            return f"Issue {issue.key} is {issue.status}, a final status: no transition leaves it."
        return f"No transition {wanted} leaves {issue.status!r} on issue {issue.key}; available: {available}."

    def apply_transition(self, issue, actor_account_id, transition, resolution=None):
        """Move `issue` through `transition`, setting or clearing its resolution as the workflow does."""
        with self.lock:
            if "resolution" in transition.required_fields and not resolution:
                raise SiteError(f"A resolution is required by transition {transition.name!r} "
                                f"to move issue {issue.key} to {transition.target}.")
            if resolution and resolution not in seed.RESOLUTIONS:
                raise SiteError(f"Resolution {resolution!r} does not exist; use one of {sorted(seed.RESOLUTIONS)}.")
            changelog = [_change("status", issue.status, transition.target,
                                 seed.STATUSES[issue.status][0], seed.STATUSES[transition.target][0])]
            new_resolution = None
            if seed.STATUSES[transition.target][1] == "done":
                new_resolution = transition.sets_resolution or resolution or issue.resolution
            if new_resolution != issue.resolution:
                changelog.append(_change("resolution", issue.resolution, new_resolution,
                                         seed.RESOLUTIONS.get(issue.resolution),
                                         seed.RESOLUTIONS.get(new_resolution)))
            issue.status = transition.target
            issue.resolution = new_resolution
            issue.updated = now()
            self._emit("jira:issue_updated", issue, actor_account_id, changelog=changelog,
                       issue_event_type_name="issue_generic")
            return issue

    def create_request(self, service_desk_id, request_type_id, reporter_account_id, summary,
                       description="", channel="portal", participants=(), organizations=(),
                       actor_account_id=None):
        """Create a JSM request (an issue of the desk's project) and fire jira:issue_created."""
        with self.lock:
            desk = self.service_desks.get(str(service_desk_id))
            if desk is None:
                raise NotFound(f"Service desk {service_desk_id!r} does not exist.")
            request_type = self.request_types.get(str(request_type_id))
            if request_type is None or request_type.service_desk_id != desk.id:
                raise NotFound(f"Request type {request_type_id!r} does not exist on service desk {desk.id}.")
            self.user(reporter_account_id)
            if not summary:
                raise SiteError("The summary field is required.")
            moment = now()
            issue = Issue(str(self._next_issue_id), f"{desk.project_key}-{self._next_issue_number}",
                          summary, description or "", workflow.INITIAL_STATUS, reporter_account_id, desk.id,
                          request_type.id, channel, moment, moment,
                          organizations=[str(org) for org in organizations],
                          participants=[p for p in participants if p != reporter_account_id])
            self._next_issue_id += 1
            self._next_issue_number += 1
            self.issues[issue.key] = issue
            self._emit("jira:issue_created", issue, actor_account_id or reporter_account_id,
                       issue_event_type_name="issue_created")
            return issue

    def update_issue(self, issue_key, actor_account_id, labels=None, priority=None):
        with self.lock:
            issue = self.issue(issue_key)
            changelog = []
            if labels is not None and list(labels) != issue.labels:
                changelog.append(_change("labels", " ".join(issue.labels), " ".join(labels)))
                issue.labels = list(labels)
            if priority is not None and priority != issue.priority:
                changelog.append(_change("priority", issue.priority, priority))
                issue.priority = priority
            if changelog:
                issue.updated = now()
                self._emit("jira:issue_updated", issue, actor_account_id, changelog=changelog,
                           issue_event_type_name="issue_updated")
            return issue

    def assign_issue(self, issue_key, actor_account_id, assignee_account_id):
        """Set or clear (None) the assignee, with the changelog entry Jira records."""
        with self.lock:
            issue = self.issue(issue_key)
            if assignee_account_id != issue.assignee:
                before, after = issue.assignee, assignee_account_id
                change = _change("assignee", self.users[before].display_name if before in self.users else None,
                                 self.users[after].display_name if after in self.users else None, before, after)
                issue.assignee = assignee_account_id
                issue.updated = now()
                self._emit("jira:issue_updated", issue, actor_account_id, changelog=[change],
                           issue_event_type_name="issue_assigned")
            return issue

    def add_participants(self, issue_key, account_ids):
        with self.lock:
            issue = self.issue(issue_key)
            for account_id in account_ids:
                self.user(account_id)
                if account_id not in issue.participants and account_id != issue.reporter:
                    issue.participants.append(account_id)
            return issue

    def set_issue_property(self, issue_key, property_key, value, actor_account_id=None):
        """Store an issue property; returns True when it was created, False when replaced."""
        with self.lock:
            issue = self.issue(issue_key)
            created = property_key not in issue.properties
            issue.properties[property_key] = value
            self._emit("issue_property_set", issue, actor_account_id, property_key=property_key)
            return created

    def delete_issue_property(self, issue_key, property_key, actor_account_id=None):
        with self.lock:
            issue = self.issue(issue_key)
            if property_key not in issue.properties:
                raise NotFound(f"Property {property_key!r} does not exist on issue {issue.key}.")
            del issue.properties[property_key]
            self._emit("issue_property_deleted", issue, actor_account_id, property_key=property_key)

    def _emit(self, event, issue, actor_account_id, **details):
        for listener in list(self.listeners):
            try:
                listener(event, issue, actor_account_id, details)
            except Exception:  # a broken listener must not undo the mutation already made
                log.exception("Webhook listener failed on %s for issue %s", event, issue.key)


def _change(field_name, from_string, to_string, from_id=None, to_id=None):
    return {"field": field_name, "fieldtype": "jira", "fieldId": field_name,
            "from": from_id, "fromString": from_string, "to": to_id, "toString": to_string}


site = Site()


def get_site():
    return site


def reset():
    site.reset()


def add_comment(issue_key, author_account_id, body, public, properties=None, via="ui"):
    return site.add_comment(issue_key, author_account_id, body, public, properties, via)


def update_comment(issue_key, comment_id, actor_account_id, body, properties=None):
    return site.update_comment(issue_key, comment_id, actor_account_id, body, properties)


def delete_comment(issue_key, comment_id, actor_account_id):
    return site.delete_comment(issue_key, comment_id, actor_account_id)


def transition(issue_key, actor_account_id, to_status, resolution=None):
    return site.transition(issue_key, actor_account_id, to_status, resolution)


def create_request(*args, **kwargs):
    return site.create_request(*args, **kwargs)


def set_issue_property(issue_key, property_key, value, actor_account_id=None):
    return site.set_issue_property(issue_key, property_key, value, actor_account_id)
