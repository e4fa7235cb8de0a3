"""The small part of JQL that the local site understands: clauses joined by AND.

Clauses:
- `issue.property[KEY].PATH OP VALUE`, on any issue property, indexed or not;
- `ALIAS OP VALUE`, where ALIAS is an extraction alias of the `jiraEntityProperties` module of an
  installed, enabled app, compared by the extraction's type (number, date, string, text, user);
- `key in (K1, K2)`, `key = K` (or `issuekey`) and `project = P`.
OP is one of = != < <= > >=. VALUE is a word, a "quoted string", a number or now(). A date is
written 2026-09-07 or "2026-09-07 11:00". JQL reads such dates in the searcher's time zone, but
this site reads them in UTC. JSON booleans in properties compare as the words true and false, as
Jira indexes them.
"""

import re
from datetime import datetime, timezone

from .state import SiteError, site

_OPERATORS = r"(!=|<=|>=|=|<|>)"
_VALUE = r'("[^"]*"|now\(\)|[\w.:+-]+)'
_CLAUSE_PATTERNS = [
    (re.compile(rf"^issue\.property\[([^\]]+)\]\.([\w.]+)\s*{_OPERATORS}\s*{_VALUE}$", re.I), "property"),
    (re.compile(r"^key\s+in\s*\(([^)]*)\)$", re.I), "keys"),
    (re.compile(r'^(?:key|issuekey)\s*=\s*"?([\w-]+)"?$', re.I), "key"),
    (re.compile(r'^project\s*=\s*"?([\w-]+)"?$', re.I), "project"),
    (re.compile(rf"^([A-Za-z][\w]*)\s*{_OPERATORS}\s*{_VALUE}$"), "alias"),
]
_ORDERING = {
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def jql_matcher(clause):
    """Return a predicate on issues for one clause; raise SiteError for a clause this site lacks."""
    clause = clause.strip()
    for pattern, kind in _CLAUSE_PATTERNS:
        match = pattern.match(clause)
        if not match:
            continue
        if kind == "property":
            prop, path, operator, value = match.groups()
            return _comparison(prop, path, operator, value, None)
        if kind == "keys":
            keys = {k.strip().strip('"').upper() for k in match.group(1).split(",") if k.strip()}
            return lambda issue: issue.key in keys
        if kind == "key":
            return lambda issue, k=match.group(1).upper(): issue.key == k
        if kind == "project":
            return lambda issue, p=match.group(1).upper(): issue.project_key == p
        alias, operator, value = match.groups()
        extraction = indexed_aliases().get(alias.casefold())
        if extraction is not None:
            return _comparison(*extraction[:2], operator, value, extraction[2])
    raise SiteError(f"Error in the JQL query: this local site does not support the clause {clause!r}.")


def jql_matchers(jql):
    """Predicates on issues, one per AND-joined clause of `jql` (ORDER BY already removed)."""
    return [jql_matcher(c) for c in re.split(r"\s+and\s+", jql, flags=re.I) if c.strip()]


def indexed_aliases():
    """Map each casefolded alias of the installed apps' issue extractions to (propertyKey, objectName, type)."""
    aliases = {}
    for app in list(site.apps.values()):
        if not (app.installed and app.enabled):
            continue
        for module in app.modules("jiraEntityProperties"):
            if str(module.get("entityType", "issue")).lower() != "issue":
                continue
            for configuration in module.get("keyConfigurations") or []:
                for extraction in configuration.get("extractions") or []:
                    if extraction.get("alias"):
                        aliases[extraction["alias"].casefold()] = (
                            configuration.get("propertyKey"), extraction.get("objectName"),
                            str(extraction.get("type", "string")).lower())
    return aliases


def _comparison(prop, path, operator, literal, value_type):
    expected = _literal(literal)

    def matches(issue):
        actual = _dig(issue.properties.get(prop), path)
        if actual is None:
            # JQL finds no issue without the value, whatever the operator.
            return False
        if operator in ("=", "!="):
            equal = _equal(actual, expected, value_type)
            return equal if operator == "=" else not equal
        pair = _ordered_pair(actual, expected, value_type)
        return pair is not None and _ORDERING[operator](*pair)

    return matches


def _literal(text):
    if text.lower() == "now()":
        return datetime.now(timezone.utc)
    return text[1:-1] if text.startswith('"') and text.endswith('"') else text


def _dig(value, path):
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    if isinstance(value, bool):
        return str(value).lower()
    return value


def _equal(actual, expected, value_type):
    pair = _ordered_pair(actual, expected, value_type) if value_type in ("number", "date") else None
    if pair is not None:
        return pair[0] == pair[1]
    return str(actual).lower() == str(expected).lower()


def _ordered_pair(actual, expected, value_type):
    """Return (actual, expected) as numbers or instants that compare, or None when they cannot."""
    if value_type in (None, "number") and not isinstance(expected, datetime):
        try:
            return float(actual), float(expected)
        except (TypeError, ValueError):
            if value_type == "number":
                return None
    actual_instant, expected_instant = _instant(actual), _instant(expected)
    if actual_instant is None or expected_instant is None:
        return None
    return actual_instant, expected_instant


def _instant(value):
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip().replace("/", "-")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
