"""Schemathesis hooks for `.ci/schemathesis` (loaded through SCHEMATHESIS_HOOKS).

Two things a generated request cannot know from the OpenAPI document, and nothing else:

1. A client sends a fresh `Idempotency-Key` with every new request. Generated keys
   repeat ("0", "a", ...), and a repeated key with another body is refused (422
   `idempotency-key-reused`, as the IETF draft on the header says), while a repeated key
   with the same body replays the first answer: a replayed "created" hides that the
   resource was deleted since. A well-formed generated key is made unique; a malformed
   one is left alone, so the header's validation is still fuzzed.

2. Some schema-valid requests are refused for reasons OpenAPI cannot state: a rule over
   two query parameters at once, or the ledger's state (a reference to something that
   does not exist, an unknown routing key). `positive_data_acceptance` (ST202) would
   count those as disagreements. Only the refusals listed in `STATE_OR_COMBINATION` are
   dropped, each matched on its problem `type` and `field` (and on the request really
   holding the combination); every other ST202, and every other check's failure, still
   fails the run. Schemathesis prints how many failures this hook dropped.
"""

import json
import re
import uuid

import schemathesis

IDEMPOTENCY_KEY = re.compile(r"^[!-~]{1,255}$")
PROBLEM = "urn:alert-ledger:problem:"


@schemathesis.hook
def before_call(context, case, **kwargs):
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key" and IDEMPOTENCY_KEY.match(str(headers[name])):
            headers[name] = f"schemathesis-{uuid.uuid4()}"


def _query(case):
    return case.query or {}


def _both(*names):
    return lambda case, body: all(name in _query(case) for name in names)


def _always(case, body):
    return True


def _detail_says(words):
    return lambda case, body: words in str(body.get("detail", ""))


_past_the_head = _detail_says("head")


# (problem type, field, the request holds the combination): refusals the document
# describes in words (parameter descriptions, docs/api.md) but cannot express as schema.
STATE_OR_COMBINATION = [
    # Reads over the views: a past view has nothing to wait for.
    ("validation", "query.as_of", _both("as_of", "min_position")),
    # Positions and tree sizes name something in the log: at most its head, which
    # moves as the run writes.
    ("validation", "query.min_position", _past_the_head),
    ("validation", "query.as_of", _past_the_head),
    ("validation", "query.position", _past_the_head),
    ("validation", "query.tree_size", _past_the_head),
    ("validation", "query.from", _past_the_head),
    ("validation", "query.to", _past_the_head),
    ("validation", "position", _past_the_head),
    # Proofs: the event is in the tree, the earlier tree is not larger than the later.
    ("validation", "query.position", _detail_says("tree size")),
    ("validation", "query.from", _detail_says("`to`")),
    # Full-text search covers the current text only.
    ("validation", "query.q", _both("q", "as_of")),
    # A trigger's resource must be registered (POST /v1/syncs) first.
    ("unknown-resource", None, _always),
    # Channels and policies named in a route, policy or trigger must exist.
    ("unknown-reference", None, _always),
    # A consumer group does not read consumer-group streams (`consumer-…`, category
    # `consumer`): a `not` the derived document cannot carry (docs/adr/0017-utoipa.md).
    ("validation", re.compile(r"stream|category"), _detail_says("consumer-group streams")),
    # A consumer member acknowledges what it was handed: it must have read first.
    ("validation", "member", _always),
    # Alertmanager: without a `service` or `job` label, the receiver names the service
    # and must then be a valid service name.
    ("validation", "receiver", _always),
    # Alertmanager: each alert needs a summary line from somewhere (an annotation
    # summary or description, or the alertname label).
    ("validation", re.compile(r"alerts\[\d+\]\.annotations\.summary"), _always),
]


def _problem(response):
    try:
        body = json.loads(response.content or b"null")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _field_matches(expected, field):
    if expected is None:
        return True
    if isinstance(expected, re.Pattern):
        return isinstance(field, str) and expected.fullmatch(field) is not None
    return field == expected


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keep every failure except ST202 on a refusal listed in STATE_OR_COMBINATION."""
    if getattr(failure, "code", None) != "ST202":
        return True
    if case.path == "/v2/enqueue":
        # PagerDuty's answers: an unknown routing key is refused like a bad credential.
        body = _problem(response) or {}
        return body.get("errors") != ["Invalid routing key"]
    body = _problem(response)
    if body is None or response.status_code != 422:
        return True
    kind = str(body.get("type", "")).removeprefix(PROBLEM)
    field = body.get("field")
    for expected_kind, expected_field, holds in STATE_OR_COMBINATION:
        if kind == expected_kind and _field_matches(expected_field, field):
            if holds(case, body):
                return False
    return True
