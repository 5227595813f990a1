//! The one transition runner that every workflow (pledges, nominations, and whatever comes next)
//! runs on, and the one problem for an action its state does not allow.
//!
//! A workflow is written as three things and nothing else:
//! - its **state table** ([`StateMachine::EDGES`]): from which states an action leads where; both
//!   [`next_status`] and [`allowed_actions`] read it, so what a resource advertises in
//!   `allowed_actions` is exactly what it accepts;
//! - its **rules** ([`Workflow`]): how to lock a row, what the policy calls each action, how to
//!   validate an action's input and write the new state;
//! - its **handlers**, which parse HTTP and call [`run`]; the ones every workflow has are stamped
//!   out by the macros of [`handlers`].
//!
//! [`run`] does the rest, in this order, inside one transaction: replay of an `Idempotency-Key`
//! (a retry answers what the first request answered) → lock the row the caller may see (404
//! otherwise) → `If-Match` (412) → the policy (`auth::policy`, 403) → the state table (409
//! `invalid_transition`) → apply → audit event → the stored reply.

use std::future::Future;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use diesel::QueryResult;
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;
use uuid::Uuid;

use crate::audit::{self, Change};
use crate::auth::policy::{self, Operation, Target};
use crate::auth::principal::Principal;
use crate::campaigns::repo::CampaignRules;
use crate::conditional::IfMatch;
use crate::db::Databases;
use crate::error::{AppError, AppResult, ProblemCode};
use crate::extract::{Body, request_digest};
use crate::idempotency::{Idempotency, IdempotencyKey, Reply};
use crate::organizations::repo as organization_repo;
use crate::text_enum::TextValue;

pub mod handlers;

/// One row of a state table: from any state of `from`, `action` leads to `to`.
#[derive(Debug)]
pub struct Edge<S: 'static, A: 'static> {
    pub from: &'static [S],
    pub action: A,
    pub to: S,
}

/// A workflow's states, actions and the table between them.
pub trait StateMachine {
    /// The entity's name in problems and audit events (`pledge`, `nomination`).
    const ENTITY: &'static str;
    type Status: TextValue;
    type Action: TextValue;
    /// The transitions; an action absent from a state's rows is refused there.
    const EDGES: &'static [Edge<Self::Status, Self::Action>];
}

/// Declares a workflow's type and its state table, one line an edge:
/// `[from states] action => to`; and the unit test that checks the table against the `design`,
/// the full matrix of outcomes (see [`assert_table`]).
macro_rules! state_machine {
    (
        $(#[$doc:meta])*
        $vis:vis struct $name:ident($entity:literal): $status:ident, $action:ident {
            $([$($from:ident),+] $act:ident => $to:ident),+ $(,)?
        }
        design $design:literal;
    ) => {
        $(#[$doc])*
        $vis struct $name;

        impl $crate::workflow::StateMachine for $name {
            const ENTITY: &'static str = $entity;
            type Status = $status;
            type Action = $action;
            const EDGES: &'static [$crate::workflow::Edge<$status, $action>] = &[$(
                $crate::workflow::Edge {
                    from: &[$($status::$from),+],
                    action: $action::$act,
                    to: $status::$to,
                }
            ),+];
        }

        #[cfg(test)]
        mod state_table {
            /// Every (state, action) pair and its expected outcome.
            #[test]
            fn the_transition_table_is_exactly_the_design() {
                $crate::workflow::assert_table::<super::$name>($design);
            }
        }
    };
}
pub(crate) use state_machine;

/// The state `action` leads to from `from`, or why it cannot be taken.
pub fn next_status<M: StateMachine>(
    from: M::Status,
    action: M::Action,
) -> Result<M::Status, InvalidTransition> {
    edge_target::<M>(from, action)
        .ok_or_else(|| InvalidTransition::new::<M>(from, action.name(), None))
}

fn edge_target<M: StateMachine>(from: M::Status, action: M::Action) -> Option<M::Status> {
    M::EDGES
        .iter()
        .find(|edge| edge.action == action && edge.from.contains(&from))
        .map(|edge| edge.to)
}

/// The actions the table allows from `from` (whoever asks), in declaration order.
pub fn allowed_actions<M: StateMachine>(from: M::Status) -> Vec<M::Action> {
    M::Action::VALUES
        .iter()
        .copied()
        .filter(|action| edge_target::<M>(from, *action).is_some())
        .collect()
}

/// An operation that is not a transition but is only possible in some states (editing a draft,
/// reporting progress on an approved pledge): refused with the same problem as a transition.
pub fn require_state<M: StateMachine>(
    status: M::Status,
    allowed_in: &[M::Status],
    operation: &'static str,
) -> Result<(), InvalidTransition> {
    if allowed_in.contains(&status) {
        Ok(())
    } else {
        Err(InvalidTransition::new::<M>(
            status,
            operation,
            Some(allowed_in.iter().map(|state| state.name()).collect()),
        ))
    }
}

/// An action or operation that the current state does not allow: 409 `invalid_transition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidTransition {
    pub entity: &'static str,
    pub from: &'static str,
    pub attempted: &'static str,
    /// For operations other than transitions: the states that allow it.
    pub only_in: Option<Vec<&'static str>>,
    /// The transitions the current state allows.
    pub allowed: Vec<&'static str>,
}

impl InvalidTransition {
    fn new<M: StateMachine>(
        from: M::Status,
        attempted: &'static str,
        only_in: Option<Vec<&'static str>>,
    ) -> Self {
        Self {
            entity: M::ENTITY,
            from: from.name(),
            attempted,
            only_in,
            allowed: allowed_actions::<M>(from)
                .into_iter()
                .map(TextValue::name)
                .collect(),
        }
    }
}

impl From<InvalidTransition> for AppError {
    fn from(refusal: InvalidTransition) -> Self {
        let only_in = refusal
            .only_in
            .as_ref()
            .map(|states| format!(" (only in {})", states.join(", ")))
            .unwrap_or_default();
        let allowed = if refusal.allowed.is_empty() {
            "nothing (final state)".to_owned()
        } else {
            refusal.allowed.join(", ")
        };
        AppError::conflict(
            ProblemCode::InvalidTransition,
            format!(
                "a {} in state {} does not allow {}{only_in}; allowed: {allowed}",
                refusal.entity, refusal.from, refusal.attempted
            ),
        )
        .with_extra("current_status", refusal.from)
        .with_extra("allowed_actions", refusal.allowed)
    }
}

/// The body of every transition that needs a reason (return, withdraw, reject).
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReasonBody {
    #[schema(min_length = 1, max_length = 2000)]
    pub reason: String,
}

/// What the runner needs to know of a locked row.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'r, S> {
    pub id: Uuid,
    /// Materialized path of the unit the row belongs to.
    pub path: &'r str,
    pub organization_id: Uuid,
    pub status: S,
    pub version: i32,
    pub created_by: Uuid,
    pub submitted_by: Option<Uuid>,
}

/// A workflow's rules: everything the runner cannot know by itself.
pub trait Workflow: StateMachine {
    /// The locked diesel row.
    type Row: Clone + Send;
    /// What the endpoints answer.
    type Dto: Serialize + Send;
    /// What an action carries besides its name (a reason, an assessment, …).
    type Input: Send;

    /// Locks the row (`SELECT … FOR UPDATE`), visible or not: the runner checks visibility.
    fn lock(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> impl Future<Output = QueryResult<Option<Self::Row>>> + Send;

    fn facts(row: &Self::Row) -> Facts<'_, Self::Status>;

    /// The policy's name of `action`.
    fn operation(action: Self::Action) -> Operation;

    /// The path of the unit in whose name `input` acts on `row`, when the policy must check
    /// it (a commendation's issuer); most actions have none. An issuer that cannot act on the
    /// row at all is a 422 here, before the policy asks whether the caller may use it.
    fn issuer_path(
        conn: &mut AsyncPgConnection,
        row: &Self::Row,
        input: &Self::Input,
    ) -> impl Future<Output = AppResult<Option<String>>> + Send {
        let _ = (conn, row, input);
        async { Ok(None) }
    }

    /// Validates `input` and writes the transition to `to`: status, version, timestamps and
    /// whatever the action records. Runs after the policy and the state table agreed.
    fn apply(
        conn: &mut AsyncPgConnection,
        principal: &Principal,
        row: Self::Row,
        action: Self::Action,
        to: Self::Status,
        input: Self::Input,
    ) -> impl Future<Output = AppResult<Self::Row>> + Send;

    fn to_dto(row: Self::Row) -> Self::Dto;
}

/// A workflow whose rows callers create (`POST /…`), each starting in its first state.
pub trait Creatable: Workflow {
    /// The creation body.
    type New: Send;
    /// Where the created row is read (`Location`).
    fn location(id: Uuid) -> String;
    /// Authorizes, validates and inserts the row.
    fn create(
        conn: &mut AsyncPgConnection,
        principal: &Principal,
        new: Self::New,
    ) -> impl Future<Output = AppResult<Self::Row>> + Send;
}

/// Where a new row goes: the unit's materialized path, the root of its tree and the campaign's
/// rules.
pub struct Placement {
    pub path: String,
    /// `root_organization_id` of the new row.
    pub root: Uuid,
    pub rules: CampaignRules,
}

/// The unit `organization_id` (named by the request member `pointer`) and the campaign a new
/// row of a workflow is created in, checked in this order: the unit exists and the caller sees
/// it (a 422 on `pointer` either way, so units outside the subtree are not revealed), the policy
/// lets the caller do `operation` there (403), the unit is active, the campaign exists (422).
/// The unit's row is locked `FOR SHARE`: a move of it waits for the creation (and the creation
/// for the move), so the stored path is current.
pub async fn place_new(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    operation: Operation,
    (pointer, organization_id): (&'static str, Uuid),
    campaign_id: Uuid,
) -> AppResult<Placement> {
    use diesel::OptionalExtension;
    use diesel::sql_types::{Bool, Date, Jsonb, Nullable, Text, Uuid as SqlUuid};
    use diesel_async::RunQueryDsl;

    #[derive(diesel::QueryableByName)]
    struct Found {
        #[diesel(sql_type = Text)]
        path: String,
        #[diesel(sql_type = Bool)]
        active: bool,
        #[diesel(sql_type = Nullable<SqlUuid>)]
        root: Option<Uuid>,
        #[diesel(sql_type = Nullable<Date>)]
        starts_on: Option<chrono::NaiveDate>,
        #[diesel(sql_type = Nullable<Date>)]
        ends_on: Option<chrono::NaiveDate>,
        #[diesel(sql_type = Nullable<Jsonb>)]
        fields: Option<serde_json::Value>,
    }

    // The unit, the root of its tree (its path's first label) and the campaign in one round
    // trip instead of three: a creation's cost is its round trips. Checked below in the
    // documented order all the same.
    let unit: Option<Found> = diesel::sql_query(
        "SELECT o.path, o.active, \
           (SELECT root.id FROM organizations root \
             WHERE root.path = split_part(o.path, '.', 1) || '.') AS root, \
           c.starts_on, c.ends_on, c.fields \
         FROM organizations o LEFT JOIN campaigns c ON c.id = $2 \
         WHERE o.id = $1 FOR SHARE OF o",
    )
    .bind::<SqlUuid, _>(organization_id)
    .bind::<SqlUuid, _>(campaign_id)
    .get_result(conn)
    .await
    .optional()?;
    let Some(unit) = unit.filter(|unit| principal.can_see(&unit.path)) else {
        return Err(AppError::field(pointer, "no such organization"));
    };
    policy::require(principal, operation, Target::unit(&unit.path))?;
    if !unit.active {
        let detail = organization_repo::inactive_detail(conn, organization_id).await?;
        return Err(AppError::field(pointer, detail));
    }
    let (Some(starts_on), Some(ends_on), Some(fields)) =
        (unit.starts_on, unit.ends_on, unit.fields)
    else {
        return Err(AppError::field("/campaign_id", "no such campaign"));
    };
    let rules = CampaignRules::new(starts_on, ends_on, &fields);
    let root = unit
        .root
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("unit without a root")))?;
    let path = unit.path;
    Ok(Placement { path, root, rules })
}

/// Creates a row of `W`: `Idempotency-Key` replay → create → audit event → stored 201 reply
/// with `Location` and `ETag`.
pub async fn create<W: Creatable>(
    db: &Databases,
    principal: &Principal,
    idempotency: Idempotency,
    new: W::New,
) -> AppResult<HttpResponse> {
    let mut conn = db.write().await?;
    let reply = conn
        .transaction::<_, AppError, _>(async move |conn| {
            if let Some(stored) = idempotency.replay(conn).await? {
                return Ok(stored);
            }
            let row = W::create(conn, principal, new).await?;
            let (id, version, organization_id) = {
                let facts = W::facts(&row);
                (facts.id, facts.version, facts.organization_id)
            };
            let dto = W::to_dto(row);
            let action = format!("{}.create", W::ENTITY);
            let change = Change {
                action: &action,
                entity_type: W::ENTITY,
                entity_id: id,
                organization_id: Some(organization_id),
                before: None,
                after: snapshot(&dto),
            };
            let reply = Reply::created(W::location(id), version, &dto)?;
            idempotency
                .record_audited(conn, principal, change, reply)
                .await
        })
        .await?;
    Ok(reply.into_response())
}

/// A workflow whose content its unit edits (merge patch) and whose drafts it deletes.
pub trait Editable: Workflow {
    /// The merge patch of `PATCH /…/{id}`.
    type Patch: Send;
    /// The policy's name of writing the content.
    const WRITE: Operation;
    /// The states in which the content may change, and those in which the row may go.
    const EDITABLE: &'static [Self::Status];
    const DELETABLE: &'static [Self::Status];

    /// Validates the content after `patch` and writes it (version and `updated_at` too).
    fn edit(
        conn: &mut AsyncPgConnection,
        row: &Self::Row,
        patch: Self::Patch,
    ) -> impl Future<Output = AppResult<Self::Row>> + Send;

    /// Deletes the row.
    fn remove(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> impl Future<Output = QueryResult<usize>> + Send;
}

/// Applies a merge patch to row `id` of `W`: lock the visible row → `If-Match` → policy →
/// editable state → validate and write → audit. Answers the new version and resource.
pub async fn update<W: Editable>(
    db: &Databases,
    principal: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    patch: W::Patch,
) -> AppResult<(i32, W::Dto)> {
    let mut conn = db.write().await?;
    conn.transaction::<_, AppError, _>(async move |conn| {
        let row = lock_visible::<W>(conn, principal, id, W::WRITE).await?;
        let organization_id = authorize_write::<W>(principal, &row, if_match, W::EDITABLE, "edit")?;
        let updated = W::edit(conn, &row, patch).await?;
        let version = W::facts(&updated).version;
        let before = W::to_dto(row);
        let dto = W::to_dto(updated);
        let action = format!("{}.update", W::ENTITY);
        audit::record(
            conn,
            Some(principal),
            Change {
                action: &action,
                entity_type: W::ENTITY,
                entity_id: id,
                organization_id: Some(organization_id),
                before: snapshot(&before),
                after: snapshot(&dto),
            },
        )
        .await?;
        Ok((version, dto))
    })
    .await
}

/// Deletes row `id` of `W` in a deletable state (a draft; anything submitted is withdrawn
/// instead and stays on record), with its audit event.
pub async fn delete<W: Editable>(
    db: &Databases,
    principal: &Principal,
    id: Uuid,
    if_match: &IfMatch,
) -> AppResult<()> {
    let mut conn = db.write().await?;
    conn.transaction::<_, AppError, _>(async move |conn| {
        let row = lock_visible::<W>(conn, principal, id, W::WRITE).await?;
        let organization_id =
            authorize_write::<W>(principal, &row, if_match, W::DELETABLE, "delete")?;
        W::remove(conn, id).await?;
        let action = format!("{}.delete", W::ENTITY);
        audit::record(
            conn,
            Some(principal),
            Change {
                action: &action,
                entity_type: W::ENTITY,
                entity_id: id,
                organization_id: Some(organization_id),
                before: snapshot(&W::to_dto(row)),
                after: None,
            },
        )
        .await?;
        Ok(())
    })
    .await
}

/// `If-Match`, the policy's write rule and the state, in that order; the row's organization.
fn authorize_write<W: Editable>(
    principal: &Principal,
    row: &W::Row,
    if_match: &IfMatch,
    allowed_in: &[W::Status],
    operation: &'static str,
) -> AppResult<Uuid> {
    let facts = W::facts(row);
    if_match.check(facts.version)?;
    policy::require(
        principal,
        W::WRITE,
        Target::item(facts.path, facts.created_by, facts.submitted_by),
    )?;
    require_state::<W>(facts.status, allowed_in, operation)?;
    Ok(facts.organization_id)
}

/// Locks a row of `W` that the caller may see for `operation` (404 otherwise).
pub async fn lock_visible<W: Workflow>(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    id: Uuid,
    operation: Operation,
) -> AppResult<W::Row> {
    let row = W::lock(conn, id).await?.ok_or_else(AppError::not_found)?;
    let facts = W::facts(&row);
    // Only visibility here: whether the caller may do `operation` is decided with the input.
    if let Err(policy::Denial::Invisible) =
        policy::decide(principal, operation, Target::unit(facts.path))
    {
        return Err(AppError::not_found());
    }
    Ok(row)
}

/// The audit snapshot of a resource (one definition, in the audit log's module).
pub use crate::audit::snapshot;

/// Takes `action` on the row `id` of workflow `W` and answers the resource (or the reply an
/// earlier request with the same `Idempotency-Key` got).
pub async fn run<W: Workflow>(
    db: &Databases,
    principal: &Principal,
    id: Uuid,
    if_match: &IfMatch,
    idempotency: Idempotency,
    action: W::Action,
    input: W::Input,
) -> AppResult<HttpResponse> {
    let mut conn = db.write().await?;
    let reply = conn
        .transaction::<_, AppError, _>(async move |conn| {
            if let Some(stored) = idempotency.replay(conn).await? {
                return Ok(stored);
            }
            let operation = W::operation(action);
            let row = lock_visible::<W>(conn, principal, id, operation).await?;
            let (status, organization_id) = {
                let facts = W::facts(&row);
                if_match.check(facts.version)?;
                let issuer = W::issuer_path(conn, &row, &input).await?;
                policy::require(
                    principal,
                    operation,
                    Target::item(facts.path, facts.created_by, facts.submitted_by)
                        .issued_by(issuer.as_deref()),
                )?;
                (facts.status, facts.organization_id)
            };
            let to = next_status::<W>(status, action)?;
            let before = W::to_dto(row.clone());
            let updated = W::apply(conn, principal, row, action, to, input).await?;
            let version = W::facts(&updated).version;
            let dto = W::to_dto(updated);
            let audit_action = format!("{}.{}", W::ENTITY, action.name());
            let change = Change {
                action: &audit_action,
                entity_type: W::ENTITY,
                entity_id: id,
                organization_id: Some(organization_id),
                before: snapshot(&before),
                after: snapshot(&dto),
            };
            idempotency
                .record_audited(conn, principal, change, Reply::ok(version, &dto)?)
                .await
        })
        .await?;
    Ok(reply.into_response())
}

/// A workflow whose rows are read one by one (`GET /…/{id}`).
pub trait Readable: Workflow {
    /// The row, visible or not (no lock).
    fn find(
        conn: &mut AsyncPgConnection,
        id: Uuid,
    ) -> impl Future<Output = QueryResult<Option<Self::Row>>> + Send;

    /// What reading `row` is decided on: by default its unit (the caller's subtree).
    fn read_target(row: &Self::Row) -> Target<'_> {
        Target::unit(Self::facts(row).path)
    }
}

/// Row `id` of `W` if the caller may read its unit (404 otherwise): for what hangs below a
/// row (progress reports, reviews), which stays in the subtree whatever `read_target` says.
pub async fn find_in_subtree<W: Readable>(
    conn: &mut AsyncPgConnection,
    principal: &Principal,
    id: Uuid,
) -> AppResult<W::Row> {
    let row = W::find(conn, id).await?.ok_or_else(AppError::not_found)?;
    policy::require(
        principal,
        Operation::Read,
        Target::unit(W::facts(&row).path),
    )?;
    Ok(row)
}

/// Answers `GET /…/{id}` of `W`: the row the caller may read, with its `ETag` (or 304).
pub async fn read<W: Readable>(
    db: &Databases,
    principal: &Principal,
    id: Uuid,
    req: &HttpRequest,
) -> AppResult<HttpResponse> {
    let mut conn = db.read_own_writes().await?;
    let row = W::find(&mut conn, id)
        .await?
        .ok_or_else(AppError::not_found)?;
    policy::require(principal, Operation::Read, W::read_target(&row))?;
    let version = W::facts(&row).version;
    Ok(crate::conditional::respond(req, version, &W::to_dto(row)))
}

/// A record appended to a row of a workflow (a progress report, a review): written under the
/// row's lock, replayed by `Idempotency-Key`, answered 201 with the collection's `Location`.
pub trait Appended: Send + Sized {
    type Workflow: Creatable;
    type Dto: Serialize + Send;
    /// The policy's name of appending it; the caller must see the row for it (404).
    const OPERATION: Operation;
    /// The collection below the row (`progress`, `reviews`).
    const COLLECTION: &'static str;
    /// The states of the row that take records, and what a refusal calls them.
    const ALLOWED_IN: &'static [<Self::Workflow as StateMachine>::Status];
    const NAME: &'static str;

    /// Validates and writes the record; the row is locked and visible, the policy and the
    /// state agreed.
    fn append(
        self,
        conn: &mut AsyncPgConnection,
        principal: &Principal,
        row: <Self::Workflow as Workflow>::Row,
    ) -> impl Future<Output = AppResult<Self::Dto>> + Send;
}

/// Appends the record of `body` to row `id`: `Idempotency-Key` replay → lock the visible row →
/// the policy (403) → the state (409) → [`Appended::append`] → stored 201 reply.
pub async fn append<R: Appended>(
    db: &Databases,
    principal: &Principal,
    id: Uuid,
    key: IdempotencyKey,
    body: Body<R>,
) -> AppResult<HttpResponse> {
    let (request, digest) = body.into_parts();
    let idempotency = Idempotency::new(principal, key, digest);
    let mut conn = db.write().await?;
    let reply = conn
        .transaction::<_, AppError, _>(async move |conn| {
            if let Some(stored) = idempotency.replay(conn).await? {
                return Ok(stored);
            }
            let row = lock_visible::<R::Workflow>(conn, principal, id, R::OPERATION).await?;
            {
                let facts = R::Workflow::facts(&row);
                policy::require(
                    principal,
                    R::OPERATION,
                    Target::item(facts.path, facts.created_by, facts.submitted_by),
                )?;
                require_state::<R::Workflow>(facts.status, R::ALLOWED_IN, R::NAME)?;
            }
            let dto = request.append(conn, principal, row).await?;
            let mut reply = Reply::plain(actix_web::http::StatusCode::CREATED, &dto)?;
            let location = <R::Workflow as Creatable>::location(id);
            reply.location = Some(format!("{location}/{}", R::COLLECTION));
            idempotency.record(conn, reply).await
        })
        .await?;
    Ok(reply.into_response())
}

/// What every transition endpoint (`POST /…/{id}/<action>`) receives besides its body: the
/// caller, the row's id, `If-Match` and `Idempotency-Key`, extracted in that order.
pub struct Act {
    principal: Principal,
    id: Uuid,
    if_match: IfMatch,
    key: IdempotencyKey,
    req: HttpRequest,
}

impl FromRequest for Act {
    type Error = actix_web::Error;
    type Future = std::future::Ready<Result<Self, actix_web::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        std::future::ready((|| {
            let principal = Principal::from_request(req, payload).into_inner()?;
            let id = web::Path::<Uuid>::from_request(req, payload)
                .into_inner()?
                .into_inner();
            let if_match = IfMatch::from_request(req, payload).into_inner()?;
            let key = IdempotencyKey::from_request(req, payload).into_inner()?;
            Ok(Self {
                principal,
                id,
                if_match,
                key,
                req: req.clone(),
            })
        })())
    }
}

impl Act {
    /// Takes `action`, which carries no body, on the row (see [`run`]).
    pub async fn run<W: Workflow>(
        self,
        db: &Databases,
        action: W::Action,
        input: W::Input,
    ) -> AppResult<HttpResponse> {
        let digest = request_digest(&self.req, b"");
        self.run_digested::<W>(db, digest, action, input).await
    }

    /// Takes `action` with the input its `body` makes (see [`run`]).
    pub async fn run_with<W: Workflow, B>(
        self,
        db: &Databases,
        body: Body<B>,
        action: W::Action,
        input: impl FnOnce(B) -> W::Input,
    ) -> AppResult<HttpResponse> {
        let (request, digest) = body.into_parts();
        self.run_digested::<W>(db, digest, action, input(request))
            .await
    }

    async fn run_digested<W: Workflow>(
        self,
        db: &Databases,
        digest: Vec<u8>,
        action: W::Action,
        input: W::Input,
    ) -> AppResult<HttpResponse> {
        let idempotency = Idempotency::new(&self.principal, self.key, digest);
        run::<W>(
            db,
            &self.principal,
            self.id,
            &self.if_match,
            idempotency,
            action,
            input,
        )
        .await
    }
}

/// The transition that `action` without its input reached: a bug of the handler, not the
/// caller's (a 500).
pub fn missing_input<M: StateMachine>(action: M::Action) -> AppError {
    AppError::internal(anyhow::anyhow!(
        "{} transition {} without its input",
        M::ENTITY,
        action.name()
    ))
}

/// The value of `values` named `name` (a test's table names states and actions as stored).
#[cfg(test)]
fn named<T: TextValue>(name: &str) -> T {
    T::VALUES
        .iter()
        .copied()
        .find(|value| value.name() == name)
        .unwrap_or_else(|| panic!("no value named {name:?}"))
}

/// Checks a state table against `expected`, written as the design draws it: a header row
/// `from` and every action, then a row per state with the state each action leads to (`-`:
/// refused). Every state and every action must have its row and column: the unit test each
/// workflow writes for its table.
#[cfg(test)]
pub fn assert_table<M: StateMachine>(expected: &str) {
    let mut rows = expected
        .lines()
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .filter(|words| !words.is_empty());
    let header = rows.next().unwrap_or_default();
    assert_eq!(header.first(), Some(&"from"));
    let actions: Vec<M::Action> = header[1..].iter().map(|name| named(name)).collect();
    assert_eq!(
        actions.len(),
        M::Action::VALUES.len(),
        "one column per action"
    );
    let mut states = 0;
    for row in rows {
        let from: M::Status = named(row[0]);
        assert_eq!(
            row.len(),
            actions.len() + 1,
            "{from:?}: one outcome per action"
        );
        for (action, outcome) in actions.iter().zip(&row[1..]) {
            let expected = (*outcome != "-").then(|| named::<M::Status>(outcome));
            assert_eq!(
                next_status::<M>(from, *action).ok(),
                expected,
                "{from:?} --{action:?}-->"
            );
        }
        states += 1;
    }
    assert_eq!(states, M::Status::VALUES.len(), "one row per state");
}
