"""Schemathesis hooks for the conformance run (scripts/conformance/run).

Each hook removes one kind of generated request that cannot be a valid test of this API, and
says why; none of them hides a response.
"""

import os
import re
import uuid

import schemathesis

# A cursor is opaque: only the service issues valid ones (base64url JSON of a sort key and an
# id). A schema-valid cursor made up by the generator is a forged one and is refused with 400
# `invalid_query` by design, so it is no "valid request". Malformed cursors (which violate the
# documented pattern) are still sent and must be refused.
_CURSOR = re.compile(r"[A-Za-z0-9_-]{1,512}")

# The run's own account: the fuzzer must not strip its own memberships (the administrator role
# that every later request of the run relies on).
_SELF_ID = os.environ.get("THIDUA_CONFORMANCE_ADMIN_ID", "")


@schemathesis.hook
def map_case(context, case):
    # A case hook rather than `map_query`: the coverage phase applies only case hooks.
    query = case.query
    for name in ("cursor", "after"):  # `after`: the change feed's cursor
        if query and isinstance(query.get(name), str) and _CURSOR.fullmatch(query[name]):
            del query[name]
    _unique_key(case)
    return case


# An Idempotency-Key names one request: the generator repeats short keys across different
# requests, which the contract answers 422 `idempotency_key_reused`. Valid keys are made unique;
# malformed ones are sent as generated and must be refused.
_KEY = re.compile(r"[!-~]{1,255}")


def _idempotency_key(case):
    for name, value in (case.headers or {}).items():
        if name.lower() == "idempotency-key" and isinstance(value, str):
            return name, value
    return None, None


def _unique_key(case):
    name, value = _idempotency_key(case)
    if name is not None and _KEY.fullmatch(value):
        case.headers[name] = f"{value[:200]}-{uuid.uuid4().hex}"


@schemathesis.hook
def filter_case(context, case):
    if _SELF_ID and case.method.upper() == "PUT" and case.path.endswith("/memberships"):
        if (case.path_parameters or {}).get("id") == _SELF_ID:
            return False
    # Spaces and tabs around a header value are not part of it (RFC 9110 §5.5): HTTP cannot
    # carry such a key, whatever the schema says of it.
    _, key = _idempotency_key(case)
    return key is None or key == key.strip(" \t")
