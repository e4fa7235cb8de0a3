"""The records the local Jira site keeps in memory: users, organisations, desks, issues, apps.

Records are dataclasses; they also answer `record["field"]` and `record.get("field")` so that
template code may treat them like the dicts Jira's JSON looks like.
"""

import datetime
from dataclasses import asdict, dataclass, field


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def jira_time(moment):
    """Format a datetime as Jira's REST API does: 2021-08-11T13:19:06.887+0000."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def epoch_millis(moment):
    return int(moment.timestamp() * 1000)


class Record:
    def __getitem__(self, name):
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None

    def get(self, name, default=None):
        return getattr(self, name, default)

    def to_dict(self):
        return asdict(self)


@dataclass
class User(Record):
    account_id: str
    display_name: str
    email: str
    # "atlassian" (an Atlassian account, with a JSM licence or not), "customer" (portal only) or "app"
    account_type: str
    groups: list = field(default_factory=list)
    locale: str = "fr_FR"
    time_zone: str = "Europe/Paris"
    active: bool = True


@dataclass
class Organization(Record):
    id: str
    name: str
    members: list = field(default_factory=list)  # accountIds


@dataclass
class ServiceDesk(Record):
    id: str
    project_id: str
    project_key: str
    project_name: str


@dataclass
class RequestType(Record):
    id: str
    name: str
    description: str
    service_desk_id: str
    issue_type_id: str = "10100"
    help_text: str = ""


@dataclass
class Comment(Record):
    id: str
    author: str  # accountId
    body: str  # plain text
    public: bool
    created: datetime.datetime
    updated: datetime.datetime
    properties: dict = field(default_factory=dict)
    update_author: str = ""
    via: str = "ui"  # "ui" (a person on a page or the control API) or "rest"


@dataclass
class Issue(Record):
    id: str
    key: str
    summary: str
    description: str
    status: str
    reporter: str  # accountId
    service_desk_id: str
    request_type_id: str
    channel: str  # "email", "portal" or "api"
    created: datetime.datetime
    updated: datetime.datetime
    resolution: str = None
    organizations: list = field(default_factory=list)  # organisation ids the request is shared with
    participants: list = field(default_factory=list)  # accountIds
    labels: list = field(default_factory=list)
    priority: str = "Medium"
    assignee: str = None
    properties: dict = field(default_factory=dict)
    comments: list = field(default_factory=list)
    attachments: list = field(default_factory=list)
    # Values of the request type's custom fields given at creation (requestFieldValues), by field id.
    request_field_values: dict = field(default_factory=dict)

    @property
    def project_key(self):
        return self.key.split("-", 1)[0]

    def comment(self, comment_id):
        for comment in self.comments:
            if comment.id == str(comment_id):
                return comment
        return None


@dataclass
class App(Record):
    key: str
    descriptor: dict
    descriptor_url: str
    base_url: str
    client_key: str
    shared_secret: str
    oauth_client_id: str
    enabled: bool = True
    installed: bool = True

    @property
    def account_id(self):
        """The accountId of the app user that Jira creates for every Connect app."""
        return f"addon-{self.key}"

    def modules(self, module_type):
        modules = self.descriptor.get("modules", {}).get(module_type, [])
        return modules if isinstance(modules, list) else [modules]
