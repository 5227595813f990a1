//! The one authorization policy: who may do which operation on which target (docs/design.md §3).
//!
//! Services call [`require`] with an [`Operation`] and the [`Target`] it acts on; nothing else in
//! the code base decides who may do what. [`decide`] is the same decision as a pure function, so
//! the whole role × relation × operation matrix is tested as a table without HTTP or a database
//! (see the tests below).
//!
//! The rules, in words:
//! - A role held in a unit applies to its whole subtree; `admin` applies everywhere.
//! - A target outside the caller's subtree does not exist for the caller (404, never 403).
//! - Content (create, edit, delete, submit, withdraw) is written by managers of the unit or of
//!   a higher one.
//! - Decisions on a unit's work (approve, return, assess a pledge; start the review of, review,
//!   recognize, reject, commend a nomination) come from a *strictly higher* unit.
//! - Four eyes: whoever created or submitted an item never approves, assesses, reviews,
//!   recognizes or commends it, whatever their unit or role (admins included).
//! - A commendation is recorded in the name of a unit where the caller holds the role.
//! - Partner clients read with scope `read` and report progress with `progress:write`; they
//!   never write anything else, but may subscribe to webhooks of what they read.
//! - Webhooks are managed by administrators (every subscription) and by partner clients with
//!   `read` (their own); no other user.

use uuid::Uuid;

use super::principal::{Principal, Role, Scope};
use crate::error::AppError;

/// Everything a caller can ask to do to a target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// Read a pledge, a nomination, its reviews, or the aggregates of a unit.
    Read,
    /// Create, edit or delete a pledge.
    WritePledge,
    SubmitPledge,
    WithdrawPledge,
    ApprovePledge,
    ReturnPledge,
    AssessPledge,
    ReportProgress,
    /// Create, edit or delete a nomination.
    WriteNomination,
    SubmitNomination,
    WithdrawNomination,
    StartReview,
    ReviewNomination,
    RecognizeNomination,
    RejectNomination,
    CommendNomination,
    /// Create a unit below the target (the parent), rename it, deactivate it.
    ManageOrganization,
    /// Move a unit (a correction of the tree; admins only).
    MoveOrganization,
    /// Create or change a campaign owned by the target unit.
    WriteCampaign,
    /// Read the audit log of the target's subtree.
    ReadAudit,
    /// Create or change users of the target unit's subtree.
    ManageUsers,
    /// Create or change a person of the target unit, or their year records.
    WritePerson,
    /// Record a unit's year (its rating, initiative, discipline): a higher unit's decision.
    RateOrganization,
    /// Register a person of the target unit, or the unit itself, for a title of a year.
    RegisterTitle,
    /// Record the target unit's council sessions and ballots, issue and revoke its award
    /// decisions (the head of the unit signs them).
    DecideAwards,
    /// Subscribe to webhooks, read and delete subscriptions and their deliveries:
    /// administrators (every subscription) and partner clients with scope `read` (their own).
    ManageWebhooks,
    /// Partner clients and anything else reserved to administrators.
    Administer,
}

impl Operation {
    /// Operations on items of a subtree (pledges, nominations, their aggregates), which do not
    /// exist for callers outside it. The directory of units and campaigns is public, so
    /// operations on them answer 403, not 404.
    fn hides_outside_subtree(self) -> bool {
        !matches!(
            self,
            Self::ManageOrganization
                | Self::MoveOrganization
                | Self::WriteCampaign
                | Self::ReadAudit
                | Self::ManageUsers
                | Self::ManageWebhooks
                | Self::Administer
        )
    }

    /// Decisions that the four-eyes rule keeps from the item's author and submitter.
    fn needs_second_person(self) -> bool {
        matches!(
            self,
            Self::ApprovePledge
                | Self::AssessPledge
                | Self::ReviewNomination
                | Self::RecognizeNomination
                | Self::CommendNomination
        )
    }
}

/// What an operation acts on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target<'a> {
    /// Materialized path of the unit the item belongs to (for creation: the unit it will
    /// belong to); `None` for operations on nothing in the tree (e.g. a root unit).
    pub path: Option<&'a str>,
    /// Who created the item, and who submitted it (four eyes).
    pub created_by: Option<Uuid>,
    pub submitted_by: Option<Uuid>,
    /// The unit in whose name a commendation is issued.
    pub issuer_path: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// An item of the unit at `path`.
    pub fn unit(path: &'a str) -> Self {
        Self {
            path: Some(path),
            ..Self::default()
        }
    }

    /// An item of the unit at `path` with its author and submitter.
    pub fn item(path: &'a str, created_by: Uuid, submitted_by: Option<Uuid>) -> Self {
        Self {
            path: Some(path),
            created_by: Some(created_by),
            submitted_by,
            issuer_path: None,
        }
    }

    pub fn issued_by(self, issuer_path: Option<&'a str>) -> Self {
        Self {
            issuer_path,
            ..self
        }
    }
}

/// Why an operation is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The target is outside the caller's view: 404, its existence is not revealed.
    Invisible,
    /// Visible but not allowed: 403 with this explanation.
    Forbidden(&'static str),
}

impl From<Denial> for AppError {
    fn from(denial: Denial) -> Self {
        match denial {
            Denial::Invisible => AppError::not_found(),
            Denial::Forbidden(reason) => AppError::forbidden(reason),
        }
    }
}

/// Fails unless `principal` may do `operation` on `target`.
pub fn require(
    principal: &Principal,
    operation: Operation,
    target: Target<'_>,
) -> Result<(), AppError> {
    decide(principal, operation, target).map_err(AppError::from)
}

/// The decision itself, pure.
pub fn decide(
    principal: &Principal,
    operation: Operation,
    target: Target<'_>,
) -> Result<(), Denial> {
    use Operation as O;
    if let Some(path) = target.path
        && !principal.can_see(path)
    {
        return Err(if operation.hides_outside_subtree() {
            Denial::Invisible
        } else {
            Denial::Forbidden("this unit is outside your subtree")
        });
    }
    if principal.is_client() {
        return decide_for_client(principal, operation, target);
    }
    if operation.needs_second_person()
        && (target.created_by == Some(principal.id) || target.submitted_by == Some(principal.id))
    {
        return Err(Denial::Forbidden(
            "four eyes: the person who created or submitted an item does not also decide on it",
        ));
    }
    let path = target.path;
    let over = |roles: &[Role]| match path {
        Some(path) => principal.has_role_over(path, roles),
        None => principal.is_admin(),
    };
    let above = |roles: &[Role]| match path {
        Some(path) => principal.has_role_strictly_above(path, roles),
        None => principal.is_admin(),
    };
    let (allowed, reason) = match operation {
        O::Read => (true, ""),
        O::WritePledge | O::SubmitPledge | O::WithdrawPledge => (
            over(&[Role::Manager]),
            "only a manager of the unit or of a higher one may write, submit or withdraw its pledges",
        ),
        O::ApprovePledge | O::ReturnPledge => (
            above(&[Role::Manager]),
            "only a manager of a higher unit may approve or return a pledge",
        ),
        O::AssessPledge => (
            above(&[Role::Manager, Role::Reviewer]),
            "only a manager or reviewer of a higher unit may assess a pledge",
        ),
        O::ReportProgress => (
            over(&[Role::Member, Role::Manager]),
            "only the unit's members and managers report its progress",
        ),
        O::WriteNomination | O::SubmitNomination | O::WithdrawNomination => (
            over(&[Role::Manager]),
            "only a manager of the nominating unit or of a higher one may write, submit or withdraw its nominations",
        ),
        O::StartReview | O::ReviewNomination | O::RecognizeNomination | O::RejectNomination => (
            above(&[Role::Reviewer]),
            "only a reviewer of a higher unit may review, recognize or reject a nomination",
        ),
        O::CommendNomination => {
            if !above(&[Role::Reviewer, Role::Manager]) {
                (
                    false,
                    "only a reviewer or manager of a higher unit may record a commendation",
                )
            } else {
                (
                    target.issuer_path.is_some_and(|issuer| {
                        principal.has_role_over(issuer, &[Role::Reviewer, Role::Manager])
                    }),
                    "a commendation is recorded in the name of a unit where you are a reviewer or manager",
                )
            }
        }
        O::ManageOrganization | O::WriteCampaign | O::ManageUsers => (
            over(&[Role::Manager]),
            "only a manager of this unit or of a higher one may do this",
        ),
        O::ReadAudit => (
            over(&[Role::Manager]),
            "only managers read the audit log of their subtree",
        ),
        O::DecideAwards => (
            over(&[Role::Manager]),
            "only a manager of the issuing unit or of a higher one records its council's votes and decisions",
        ),
        O::WritePerson | O::RegisterTitle => (
            over(&[Role::Manager]),
            "only a manager of the unit or of a higher one may record its persons, their years and registrations",
        ),
        O::RateOrganization => (
            above(&[Role::Manager]),
            "only a manager of a higher unit records a unit's year",
        ),
        O::ManageWebhooks => (
            principal.is_admin(),
            "webhooks are managed by administrators and by partner clients for their own",
        ),
        O::MoveOrganization | O::Administer => {
            (principal.is_admin(), "only an administrator may do this")
        }
    };
    if allowed {
        Ok(())
    } else {
        Err(Denial::Forbidden(reason))
    }
}

fn decide_for_client(
    principal: &Principal,
    operation: Operation,
    target: Target<'_>,
) -> Result<(), Denial> {
    match operation {
        Operation::Read if principal.scopes.contains(&Scope::Read) => Ok(()),
        // Without `read` a client does not see items at all, and may not list them.
        Operation::Read if target.path.is_some() => Err(Denial::Invisible),
        Operation::Read => Err(Denial::Forbidden("this client lacks the scope read")),
        Operation::ReportProgress if principal.scopes.contains(&Scope::ProgressWrite) => Ok(()),
        Operation::ReportProgress => Err(Denial::Forbidden(
            "this client lacks the scope progress:write",
        )),
        // Its own subscriptions deliver what it may read: without `read`, nothing.
        Operation::ManageWebhooks if principal.scopes.contains(&Scope::Read) => Ok(()),
        Operation::ManageWebhooks => Err(Denial::Forbidden(
            "webhooks deliver what a client may read: this client lacks the scope read",
        )),
        _ => Err(Denial::Forbidden("partner clients may not do this")),
    }
}

/// Users only: partner clients never administer anything.
pub fn require_user(principal: &Principal) -> Result<(), AppError> {
    if principal.is_client() {
        Err(AppError::forbidden("partner clients may not do this"))
    } else {
        Ok(())
    }
}

/// What only administrators do (partner clients, moves, users above one's subtree).
/// The subtrees where `principal` may do `operation` (everything for admins); 403 when none.
pub fn subtrees_allowing(
    principal: &Principal,
    operation: Operation,
) -> Result<super::authorize::Visibility, AppError> {
    if principal.is_admin() {
        return Ok(super::authorize::Visibility::Everything);
    }
    let roots: Vec<String> = principal
        .grants
        .iter()
        .filter(|grant| decide(principal, operation, Target::unit(&grant.path)).is_ok())
        .map(|grant| grant.path.clone())
        .collect();
    if roots.is_empty() {
        require(principal, operation, Target::default())?;
    }
    Ok(super::authorize::Visibility::Subtrees(roots))
}

pub fn require_admin(principal: &Principal) -> Result<(), AppError> {
    require(principal, Operation::Administer, Target::default())
}

/// Granting `role` in the unit at `path`: admin, or a manager over `path` granting at most
/// their own role (never admin).
pub fn require_can_grant(principal: &Principal, path: &str, role: Role) -> Result<(), AppError> {
    if principal.is_client() {
        return Err(AppError::forbidden("partner clients may not do this"));
    }
    if principal.is_admin() {
        return Ok(());
    }
    if role == Role::Admin {
        return Err(AppError::forbidden(
            "only an administrator may grant the admin role",
        ));
    }
    match principal.highest_role_over(path) {
        Some(held) if held >= Role::Manager && held >= role => Ok(()),
        _ => Err(AppError::forbidden(
            "you may grant roles only inside your own subtree and never above your own",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::Operation as O;
    use super::*;
    use crate::auth::principal::{Grant, PrincipalKind};

    const AUTHOR: Uuid = Uuid::from_u128(7);
    const CALLER: Uuid = Uuid::from_u128(1);

    /// The tree: province 1. ─ district 1.2. ─ commune 1.2.3. (and sibling district 1.4.)
    const PROVINCE: &str = "1.";
    const DISTRICT: &str = "1.2.";
    const COMMUNE: &str = "1.2.3.";

    fn user(path: &str, role: Role) -> Principal {
        Principal {
            id: CALLER,
            kind: PrincipalKind::User,
            name: "t".into(),
            grants: vec![Grant {
                organization_id: Uuid::nil(),
                path: path.to_owned(),
                role,
            }],
            scopes: vec![],
            token_expires_at: 0,
        }
    }

    fn client(path: &str, scopes: &[Scope]) -> Principal {
        Principal {
            kind: PrincipalKind::Client,
            scopes: scopes.to_vec(),
            ..user(path, Role::Member)
        }
    }

    /// Where the caller's role sits relative to the item's unit (the commune).
    #[derive(Debug, Clone, Copy)]
    enum Relation {
        SameUnit,
        Above,
        Sibling,
    }

    fn home(relation: Relation) -> &'static str {
        match relation {
            Relation::SameUnit => COMMUNE,
            Relation::Above => DISTRICT,
            Relation::Sibling => "1.4.",
        }
    }

    /// Expected outcome: A = allowed, F = 403, N = 404.
    fn expect(role: Role, relation: Relation, operation: Operation) -> char {
        use Relation as R;
        if role == Role::Admin {
            return 'A';
        }
        if matches!(relation, R::Sibling) {
            return if operation.hides_outside_subtree() {
                'N'
            } else {
                'F'
            };
        }
        let above = matches!(relation, R::Above);
        let allowed = match operation {
            O::Read => true,
            O::WritePledge
            | O::SubmitPledge
            | O::WithdrawPledge
            | O::WriteNomination
            | O::SubmitNomination
            | O::WithdrawNomination
            | O::ManageOrganization
            | O::WriteCampaign
            | O::ManageUsers
            | O::ReadAudit
            | O::WritePerson
            | O::RegisterTitle
            | O::DecideAwards => role == Role::Manager,
            O::RateOrganization => above && role == Role::Manager,
            O::ApprovePledge | O::ReturnPledge => above && role == Role::Manager,
            O::AssessPledge => above && matches!(role, Role::Manager | Role::Reviewer),
            O::ReportProgress => matches!(role, Role::Member | Role::Manager),
            O::StartReview | O::ReviewNomination | O::RecognizeNomination | O::RejectNomination => {
                above && role == Role::Reviewer
            }
            O::CommendNomination => above && matches!(role, Role::Reviewer | Role::Manager),
            O::MoveOrganization | O::ManageWebhooks | O::Administer => false,
        };
        if allowed { 'A' } else { 'F' }
    }

    const OPERATIONS: [Operation; 27] = [
        O::Read,
        O::WritePledge,
        O::SubmitPledge,
        O::WithdrawPledge,
        O::ApprovePledge,
        O::ReturnPledge,
        O::AssessPledge,
        O::ReportProgress,
        O::WriteNomination,
        O::SubmitNomination,
        O::WithdrawNomination,
        O::StartReview,
        O::ReviewNomination,
        O::RecognizeNomination,
        O::RejectNomination,
        O::CommendNomination,
        O::ManageOrganization,
        O::MoveOrganization,
        O::WriteCampaign,
        O::ReadAudit,
        O::ManageUsers,
        O::WritePerson,
        O::RateOrganization,
        O::RegisterTitle,
        O::DecideAwards,
        O::ManageWebhooks,
        O::Administer,
    ];

    fn outcome(result: Result<(), Denial>) -> char {
        match result {
            Ok(()) => 'A',
            Err(Denial::Forbidden(_)) => 'F',
            Err(Denial::Invisible) => 'N',
        }
    }

    #[test]
    fn every_role_relation_and_operation_is_decided_as_the_rules_say() {
        let mut checked = 0;
        for role in Role::ALL {
            for relation in [Relation::SameUnit, Relation::Above, Relation::Sibling] {
                let caller = user(home(relation), role);
                for operation in OPERATIONS {
                    // Commendations are issued in the name of the caller's own unit here.
                    let target =
                        Target::item(COMMUNE, AUTHOR, Some(AUTHOR)).issued_by(Some(home(relation)));
                    let got = outcome(decide(&caller, operation, target));
                    assert_eq!(
                        got,
                        expect(role, relation, operation),
                        "{role:?} at {relation:?} → {operation:?}"
                    );
                    checked += 1;
                }
            }
        }
        assert_eq!(checked, Role::ALL.len() * 3 * OPERATIONS.len());
    }

    #[test]
    fn four_eyes_keeps_the_author_and_the_submitter_from_deciding() {
        for role in [Role::Manager, Role::Reviewer, Role::Admin] {
            let caller = user(PROVINCE, role);
            for operation in OPERATIONS {
                for target in [
                    Target::item(COMMUNE, CALLER, None),
                    Target::item(COMMUNE, AUTHOR, Some(CALLER)),
                ] {
                    let target = target.issued_by(Some(DISTRICT));
                    let got = decide(&caller, operation, target);
                    if operation.needs_second_person() {
                        assert!(
                            matches!(got, Err(Denial::Forbidden(reason)) if reason.starts_with("four eyes")),
                            "{role:?} {operation:?}: {got:?}"
                        );
                    }
                }
            }
            // Not a decision: the author may still withdraw their own work.
            let own = Target::item(COMMUNE, CALLER, Some(CALLER));
            if role != Role::Reviewer {
                assert_eq!(decide(&caller, O::WithdrawPledge, own), Ok(()));
            }
        }
    }

    #[test]
    fn a_commendation_is_issued_only_in_the_name_of_a_unit_of_the_caller() {
        let district_manager = user(DISTRICT, Role::Manager);
        let target = Target::item(COMMUNE, AUTHOR, Some(AUTHOR));
        assert_eq!(
            decide(
                &district_manager,
                O::CommendNomination,
                target.issued_by(Some(DISTRICT))
            ),
            Ok(())
        );
        assert!(matches!(
            decide(
                &district_manager,
                O::CommendNomination,
                target.issued_by(Some(PROVINCE))
            ),
            Err(Denial::Forbidden(_))
        ));
        assert!(matches!(
            decide(&district_manager, O::CommendNomination, target),
            Err(Denial::Forbidden(_))
        ));
        let admin = user(PROVINCE, Role::Admin);
        assert_eq!(
            decide(
                &admin,
                O::CommendNomination,
                target.issued_by(Some(PROVINCE))
            ),
            Ok(())
        );
    }

    #[test]
    fn partner_clients_read_with_read_and_report_with_progress_write_only() {
        let target = Target::item(COMMUNE, AUTHOR, None);
        let reader = client(DISTRICT, &[Scope::Read]);
        let reporter = client(DISTRICT, &[Scope::ProgressWrite]);
        let outsider = client("1.4.", &[Scope::Read, Scope::ProgressWrite]);
        for operation in OPERATIONS {
            let expected_reader = if matches!(operation, O::Read | O::ManageWebhooks) {
                'A'
            } else {
                'F'
            };
            assert_eq!(outcome(decide(&reader, operation, target)), expected_reader);
            let expected_reporter = match operation {
                O::ReportProgress => 'A',
                O::Read => 'N',
                _ => 'F',
            };
            assert_eq!(
                outcome(decide(&reporter, operation, target)),
                expected_reporter,
                "{operation:?}"
            );
            let expected_outsider = if operation.hides_outside_subtree() {
                'N'
            } else {
                'F'
            };
            assert_eq!(
                outcome(decide(&outsider, operation, target)),
                expected_outsider
            );
        }
    }

    /// Who manages webhooks: administrators, and partner clients with `read` (for their own
    /// subscriptions: which ones are theirs the handlers decide, by owner). No other user,
    /// whatever their role or unit, and no client that cannot read.
    #[test]
    fn webhooks_are_managed_by_administrators_and_reading_partner_clients_only() {
        let cases: [(&str, Principal, char); 9] = [
            ("admin", user(PROVINCE, Role::Admin), 'A'),
            ("province manager", user(PROVINCE, Role::Manager), 'F'),
            ("district manager", user(DISTRICT, Role::Manager), 'F'),
            ("commune reviewer", user(COMMUNE, Role::Reviewer), 'F'),
            ("commune member", user(COMMUNE, Role::Member), 'F'),
            ("client read", client(DISTRICT, &[Scope::Read]), 'A'),
            (
                "client read+progress",
                client(DISTRICT, &[Scope::Read, Scope::ProgressWrite]),
                'A',
            ),
            (
                "client progress only",
                client(DISTRICT, &[Scope::ProgressWrite]),
                'F',
            ),
            ("client without scopes", client(DISTRICT, &[]), 'F'),
        ];
        for (who, principal, expected) in cases {
            assert_eq!(
                outcome(decide(&principal, O::ManageWebhooks, Target::default())),
                expected,
                "{who}"
            );
        }
    }

    #[test]
    fn granting_is_bounded_by_the_own_role_and_subtree() {
        let manager = user(DISTRICT, Role::Manager);
        assert!(require_can_grant(&manager, COMMUNE, Role::Manager).is_ok());
        assert!(require_can_grant(&manager, COMMUNE, Role::Admin).is_err());
        assert!(require_can_grant(&manager, "1.4.", Role::Member).is_err());
        let reviewer = user(DISTRICT, Role::Reviewer);
        assert!(require_can_grant(&reviewer, COMMUNE, Role::Member).is_err());
    }
}
