//! The tree rules the policy (`auth::policy`) decides with: which subtrees a caller sees and
//! which roles it holds over a unit (docs/design.md §3).
//!
//! A role held in an organization applies to that organization's whole subtree. Organizations
//! are compared by materialized path: `a` is inside `b` when `a.path` starts with `b.path`.
//! These are facts, not decisions: services ask `auth::policy`.

use super::principal::{Principal, Role, Scope};

/// Which rows a caller may see: everything, or the union of some subtrees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    Everything,
    Subtrees(Vec<String>),
}

impl Visibility {
    pub fn includes(&self, path: &str) -> bool {
        match self {
            Visibility::Everything => true,
            Visibility::Subtrees(roots) => roots.iter().any(|root| path.starts_with(root.as_str())),
        }
    }
}

/// True when `path` is `ancestor` itself or lies below it.
pub fn is_within(path: &str, ancestor: &str) -> bool {
    path.starts_with(ancestor)
}

/// The subtrees at `paths` without those inside another one (and without repeats), sorted:
/// each row of their union is in exactly one of them.
pub fn outermost_subtrees(mut paths: Vec<String>) -> Vec<String> {
    paths.sort();
    paths.dedup_by(|later, earlier| later.starts_with(earlier.as_str()));
    paths
}

/// True when `path` lies strictly below `ancestor`.
pub fn is_strictly_below(path: &str, ancestor: &str) -> bool {
    path.len() > ancestor.len() && path.starts_with(ancestor)
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.grants.iter().any(|grant| grant.role == Role::Admin)
    }

    pub fn has_scope(&self, scope: Scope) -> bool {
        !self.is_client() || self.scopes.contains(&scope)
    }

    /// The subtrees the caller may read.
    pub fn visibility(&self) -> Visibility {
        if self.is_admin() {
            return Visibility::Everything;
        }
        // Roots already inside another root dropped: fewer OR branches in queries.
        Visibility::Subtrees(outermost_subtrees(
            self.grants.iter().map(|grant| grant.path.clone()).collect(),
        ))
    }

    pub fn can_see(&self, path: &str) -> bool {
        self.is_admin() || self.grants.iter().any(|grant| is_within(path, &grant.path))
    }

    /// Holds one of `roles` in `path` itself or in one of its ancestors.
    pub fn has_role_over(&self, path: &str, roles: &[Role]) -> bool {
        self.is_admin()
            || self
                .grants
                .iter()
                .any(|grant| roles.contains(&grant.role) && is_within(path, &grant.path))
    }

    /// Holds one of `roles` in a strict ancestor of `path`: the "higher unit" rule that keeps
    /// anyone from approving, assessing or reviewing their own unit's work.
    pub fn has_role_strictly_above(&self, path: &str, roles: &[Role]) -> bool {
        self.is_admin()
            || self
                .grants
                .iter()
                .any(|grant| roles.contains(&grant.role) && is_strictly_below(path, &grant.path))
    }

    /// The highest role the caller holds over `path`.
    pub fn highest_role_over(&self, path: &str) -> Option<Role> {
        if self.is_admin() {
            return Some(Role::Admin);
        }
        self.grants
            .iter()
            .filter(|grant| is_within(path, &grant.path))
            .map(|grant| grant.role)
            .max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::principal::{Grant, PrincipalKind};
    use uuid::Uuid;

    fn principal(grants: &[(&str, Role)]) -> Principal {
        Principal {
            id: Uuid::nil(),
            kind: PrincipalKind::User,
            name: "t".into(),
            grants: grants
                .iter()
                .map(|(path, role)| Grant {
                    organization_id: Uuid::nil(),
                    path: (*path).to_owned(),
                    role: *role,
                })
                .collect(),
            scopes: vec![],
            token_expires_at: 0,
        }
    }

    #[test]
    fn a_role_covers_the_subtree_but_not_siblings_with_a_common_prefix() {
        let manager = principal(&[("1.2.", Role::Manager)]);
        assert!(manager.can_see("1.2."));
        assert!(manager.can_see("1.2.5."));
        assert!(!manager.can_see("1.23."));
        assert!(!manager.can_see("1."));
    }

    #[test]
    fn strictly_above_excludes_the_own_unit() {
        let manager = principal(&[("1.2.", Role::Manager)]);
        assert!(!manager.has_role_strictly_above("1.2.", &[Role::Manager]));
        assert!(manager.has_role_strictly_above("1.2.9.", &[Role::Manager]));
        assert!(!manager.has_role_strictly_above("1.2.9.", &[Role::Reviewer]));
    }

    #[test]
    fn outermost_subtrees_drop_nested_and_repeated_paths_but_not_siblings() {
        let paths = ["1.20.", "1.2.3.", "1.2.", "1.2.", "1.4.7.", "1.2.9.1."];
        assert_eq!(
            outermost_subtrees(paths.iter().map(|path| (*path).to_owned()).collect()),
            ["1.2.", "1.20.", "1.4.7."]
        );
    }

    #[test]
    fn visibility_merges_nested_roots() {
        let user = principal(&[
            ("1.2.", Role::Member),
            ("1.2.3.", Role::Manager),
            ("1.4.", Role::Member),
        ]);
        assert_eq!(
            user.visibility(),
            Visibility::Subtrees(vec!["1.2.".into(), "1.4.".into()])
        );
        assert_eq!(
            principal(&[("1.", Role::Admin)]).visibility(),
            Visibility::Everything
        );
    }
}
