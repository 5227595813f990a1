//! The catalogue of problem codes: one enum, so a misspelt code is a compile error, and the
//! `/problems/{code}` pages (`crate::problems`) read the same declaration.

macro_rules! problem_codes {
    ($($variant:ident = $code:literal, $title:literal, $text:literal;)*) => {
        /// A stable snake_case code clients branch on (the `code` of a problem).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ProblemCode {
            $($variant,)*
        }

        impl ProblemCode {
            /// Every code, in catalogue order.
            pub const ALL: &'static [ProblemCode] = &[$(ProblemCode::$variant,)*];

            /// The wire name (`invalid_transition`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ProblemCode::$variant => $code,)*
                }
            }

            /// The human title of the problem.
            pub fn title(self) -> &'static str {
                match self {
                    $(ProblemCode::$variant => $title,)*
                }
            }

            /// What the problem means and what to do about it.
            pub fn explanation(self) -> &'static str {
                match self {
                    $(ProblemCode::$variant => $text,)*
                }
            }

            /// The code named `name`, if there is one.
            pub fn parse(name: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|code| code.as_str() == name)
            }
        }
    };
}

problem_codes! {
    BadRequest = "bad_request",
        "Bad request",
        "The request was refused before it reached the service (for example a malformed header).";
    MalformedJson = "malformed_json",
        "Malformed JSON",
        "The request body is not valid JSON, is nested too deeply, or holds a number out of range.";
    InvalidQuery = "invalid_query",
        "Invalid query parameter",
        "A query parameter is unknown to the operation, has a value of the wrong type or outside its range, or the `sort` key is not documented. `parameter` names it.";
    ExportTooLarge = "export_too_large",
        "Export too large for a spreadsheet",
        "An XLSX export is limited to 200 000 rows; narrow the filters or ask for `text/csv`, which streams any number of rows.";
    InvalidPath = "invalid_path",
        "Invalid path parameter",
        "A path segment does not have the expected form (ids are UUIDs). `parameter` names it.";
    InvalidHeader = "invalid_header",
        "Invalid header",
        "A request header has a value that cannot be used (for example an `Idempotency-Key` that is too long).";
    ValidationFailed = "validation_failed",
        "Validation failed",
        "Members of the request body are missing, unknown, owned by the server, or invalid. `errors` lists each with a JSON Pointer.";
    Unauthorized = "unauthorized",
        "Authentication required",
        "Send `Authorization: Bearer <access token>`; obtain one from `POST /api/v1/auth/token`.";
    InvalidToken = "invalid_token",
        "Invalid access token",
        "The access token is malformed, expired, not yet valid, or not signed by this service.";
    InvalidGrant = "invalid_grant",
        "Invalid grant",
        "The credentials, or the refresh token, are not valid (RFC 6749 §5.2).";
    InvalidClient = "invalid_client",
        "Invalid client",
        "The client id or secret is not valid (RFC 6749 §5.2).";
    InvalidScope = "invalid_scope",
        "Invalid scope",
        "The client asked for a scope it was not granted (RFC 6749 §5.2).";
    UnsupportedGrantType = "unsupported_grant_type",
        "Unsupported grant type",
        "`grant_type` must be `password`, `refresh_token` or `client_credentials`.";
    InvalidRequest = "invalid_request",
        "Invalid token request",
        "A parameter of the token request is missing or repeated (RFC 6749 §5.2).";
    Forbidden = "forbidden",
        "Forbidden",
        "You are authenticated but your role does not allow this operation on this resource.";
    NotFound = "not_found",
        "Not found",
        "No such resource, or it is outside the part of the organization tree you may see.";
    MethodNotAllowed = "method_not_allowed",
        "Method not allowed",
        "The resource exists but does not support this method; `Allow` lists the ones it does.";
    NotAcceptable = "not_acceptable",
        "Not acceptable",
        "None of the media types in `Accept` can be produced for this resource.";
    AlreadyExists = "already_exists",
        "Already exists",
        "A resource with the same unique key (code, username, …) already exists.";
    LastAdmin = "last_admin",
        "Last administrator",
        "The change would leave no enabled administrator; give someone else the admin role first.";
    ConcurrentUpdate = "concurrent_update",
        "Concurrent update",
        "Another request changed the same data at the same time; read it again and retry.";
    StillReferenced = "still_referenced",
        "Still referenced",
        "The resource is referenced by others, or references one that does not exist.";
    InvalidTransition = "invalid_transition",
        "Invalid transition",
        "The action is not allowed from the resource's current state; the body names the state and the allowed actions.";
    DuplicateNomination = "duplicate_nomination",
        "Duplicate nomination",
        "The unit already nominated the same nominee (same name ignoring case, diacritics and spacing, or the same collective organization) for this campaign year; `existing_id` names it when known. A rejected or withdrawn nomination does not count.";
    AlreadyReviewed = "already_reviewed",
        "Already reviewed",
        "You already reviewed this nomination; there is one review per reviewer and reviews are not edited.";
    InsufficientEndorsements = "insufficient_endorsements",
        "Insufficient endorsements",
        "Recognition needs at least one endorsement and more endorsements than oppositions; `tally` gives the current counts.";
    AwardNotAllowed = "award_not_allowed",
        "Award not allowed",
        "A decision confers only titles that may be conferred: each award must be eligible, have passed the council vote the title needs, be conferred by that kind of unit, fit the title's quota over the issuer's decisions of the year and not repeat a title held that year. `errors` names every refused award (`/awards/2`) and `refused` lists its failed checks; nothing was stored.";
    RuleSetInUse = "rule_set_in_use",
        "Rule set in use",
        "Awards were conferred under the current version of this rule set, so it is not superseded: a decision is judged by the rules of its day forever. Publish the correction under a new code from the day it applies.";
    RuleSetOverlap = "rule_set_overlap",
        "Rule sets overlap",
        "Another current rule set is in force on one of the days of this one; only one rule set decides a given day. End the other first (publish its next version with an `effective_to`).";
    IdempotencyKeyInUse = "idempotency_key_in_use",
        "Idempotency key in use",
        "A request with the same `Idempotency-Key` is still being processed; retry later.";
    IdempotencyKeyReused = "idempotency_key_reused",
        "Idempotency key reused",
        "The `Idempotency-Key` was already used with a different request body.";
    ResyncRequired = "resync_required",
        "Cursor older than the change feed's retention",
        "The change feed no longer holds every event after this cursor (events are kept for `THIDUA_CHANGES_RETENTION_DAYS`, at least 30 days). Reload the lists, then follow `/changes` from the cursor of a fresh first page.";
    WebhookTargetRefused = "webhook_target_refused",
        "Webhook target refused",
        "A webhook is delivered only to a host the operator listed in `THIDUA_WEBHOOK_ALLOWED_HOSTS`, over http or https, and never to a loopback, private, link-local or other non-public address (checked on the address the name resolves to) unless that address is listed too. Ask the operator to list your host, or use a public address; `errors` names the member.";
    PreconditionFailed = "precondition_failed",
        "Precondition failed",
        "`If-Match` does not match the current ETag; the body names the current one.";
    RequestTimeout = "request_timeout",
        "Request timeout",
        "The request body did not arrive in time (`THIDUA_BODY_READ_TIMEOUT_MS`); the connection is closed.";
    PayloadTooLarge = "payload_too_large",
        "Payload too large",
        "The request body is larger than the service accepts.";
    UnsupportedMediaType = "unsupported_media_type",
        "Unsupported media type",
        "Send `Content-Type: application/json` (or a form body on the token endpoint).";
    TooManyRequests = "too_many_requests",
        "Too many requests",
        "Slow down; `Retry-After` says when to try again.";
    RateLimited = "rate_limited",
        "Rate limited",
        "Too many requests from your address or with your user's (or client's) tokens in a short time; retry after the seconds `Retry-After` gives. Limits are counted per service instance.";
    InternalError = "internal_error",
        "Internal error",
        "The service failed; the failure is logged with the request id.";
    ServiceUnavailable = "service_unavailable",
        "Service unavailable",
        "The database is unreachable or the service is saturated; `Retry-After` says when to retry.";
}

impl std::fmt::Display for ProblemCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_snake_case_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for code in ProblemCode::ALL {
            let name = code.as_str();
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{name}"
            );
            assert!(seen.insert(name), "{name} twice");
            assert_eq!(ProblemCode::parse(name), Some(*code));
        }
    }
}
