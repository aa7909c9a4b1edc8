//! Permissions are strings such as `tokens:manage` or `tasks:write`. Roles map
//! to sets of them, from configuration. A token's own permission list can only
//! narrow what its owner's role grants, never widen it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// Tessera's own permissions; a deployment declares its products' beside them.
pub const TOKENS_MANAGE: &str = "tokens:manage";
pub const API_KEYS_MANAGE: &str = "api_keys:manage";
pub const MEMBERS_MANAGE: &str = "members:manage";
pub const AUDIT_READ: &str = "audit:read";
/// Managing the workspace itself and its owners: what the default owner
/// holds and an admin does not.
pub const WORKSPACE_MANAGE: &str = "workspace:manage";
pub const BUILT_IN: [&str; 5] = [
    TOKENS_MANAGE,
    API_KEYS_MANAGE,
    MEMBERS_MANAGE,
    AUDIT_READ,
    WORKSPACE_MANAGE,
];

/// The default roles, highest first.
pub const DEFAULT_ROLE_ORDER: [&str; 4] = ["owner", "admin", "member", "viewer"];

/// The product permissions a deployment gets when it declares none.
pub const DEFAULT_DECLARED: [&str; 2] = ["api:read", "api:write"];

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Permission(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("\"{0}\" is not a permission: use `resource:action`, lowercase letters, digits, `_`, `-` and `.`, at most 100 characters")]
pub struct InvalidPermission(pub String);

impl Permission {
    pub fn parse(value: &str) -> Result<Self, InvalidPermission> {
        let valid_part = |p: &str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b))
        };
        match value.split_once(':') {
            Some((resource, action))
                if value.len() <= 100 && valid_part(resource) && valid_part(action) =>
            {
                Ok(Self(value.to_owned()))
            }
            _ => Err(InvalidPermission(value.to_owned())),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Permission {
    type Error = InvalidPermission;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Permission::parse(&value)
    }
}

impl From<Permission> for String {
    fn from(p: Permission) -> String {
        p.0
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ordered set of permissions (ordered so that answers are stable).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PermissionSet(BTreeSet<Permission>);

impl PermissionSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses every string; the first invalid one is the error.
    pub fn parse_all<I, S>(values: I) -> Result<Self, InvalidPermission>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        values
            .into_iter()
            .map(|v| Permission::parse(v.as_ref()))
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Self)
    }

    pub fn contains(&self, permission: &str) -> bool {
        self.0.iter().any(|p| p.as_str() == permission)
    }

    pub fn is_subset(&self, other: &PermissionSet) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn intersection(&self, other: &PermissionSet) -> PermissionSet {
        Self(self.0.intersection(&other.0).cloned().collect())
    }

    /// The members of `self` that `other` lacks.
    pub fn missing_from<'a>(&'a self, other: &'a PermissionSet) -> Vec<&'a Permission> {
        self.0.difference(&other.0).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Permission> {
        self.0.iter()
    }

    pub fn to_strings(&self) -> Vec<String> {
        self.0.iter().map(|p| p.0.clone()).collect()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<T: IntoIterator<Item = Permission>>(iter: T) -> Self {
        Self(iter.into_iter().collect())
    }
}

/// Roles and what they grant, as configured, and their rank: `order` lists
/// every role exactly once, highest first. Granting a role needs a rank no
/// lower than it (see [`crate::granting`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleMap {
    roles: BTreeMap<String, PermissionSet>,
    order: Vec<String>,
    declared: PermissionSet,
}

/// Why a role order does not rank the configured roles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleOrderError {
    #[error("role \"{0}\" is not in the order: list every role exactly once, highest first")]
    Missing(String),
    #[error("\"{0}\" is not a configured role")]
    Unknown(String),
    #[error("role \"{0}\" appears more than once: a role has one rank")]
    Duplicate(String),
}

impl RoleMap {
    pub fn get(&self, role: &str) -> Option<&PermissionSet> {
        self.roles.get(role)
    }

    pub fn contains_role(&self, role: &str) -> bool {
        self.roles.contains_key(role)
    }

    pub fn role_names(&self) -> impl Iterator<Item = &str> {
        self.roles.keys().map(String::as_str)
    }

    /// Every permission the deployment knows, built-in ones included.
    pub fn declared(&self) -> &PermissionSet {
        &self.declared
    }

    /// The role's place in the order, 0 for the highest; `None` for a role
    /// not configured.
    pub fn rank(&self, role: &str) -> Option<usize> {
        self.order.iter().position(|r| r == role)
    }

    /// The roles, highest first.
    pub fn ranked_names(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }
}

/// Roles whose permissions are checked but which have no order yet: a
/// [`RoleMap`] exists only ranked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnrankedRoles {
    roles: BTreeMap<String, PermissionSet>,
    declared: PermissionSet,
}

impl UnrankedRoles {
    /// `declared` is every permission the deployment knows (built-in ones are
    /// added); each role may only grant declared permissions. The roles are
    /// ranked with [`UnrankedRoles::ranked`].
    pub fn new(
        roles: BTreeMap<String, PermissionSet>,
        declared: PermissionSet,
    ) -> Result<Self, String> {
        let mut known = declared;
        known.0.extend(built_in());
        for (role, perms) in &roles {
            if let Some(p) = perms.missing_from(&known).first() {
                return Err(format!(
                    "role \"{role}\" grants \"{p}\", which is not a declared permission"
                ));
            }
        }
        Ok(Self {
            roles,
            declared: known,
        })
    }

    /// Ranks the roles by `order`, highest first: every role exactly once,
    /// nothing else (a role named twice would be a loop in the order).
    pub fn ranked<S: AsRef<str>>(self, order: &[S]) -> Result<RoleMap, RoleOrderError> {
        let mut ranked: Vec<String> = Vec::with_capacity(order.len());
        for name in order.iter().map(AsRef::as_ref) {
            if !self.roles.contains_key(name) {
                return Err(RoleOrderError::Unknown(name.to_owned()));
            }
            if ranked.iter().any(|r| r == name) {
                return Err(RoleOrderError::Duplicate(name.to_owned()));
            }
            ranked.push(name.to_owned());
        }
        if let Some(missing) = self.roles.keys().find(|r| !ranked.contains(r)) {
            return Err(RoleOrderError::Missing(missing.clone()));
        }
        Ok(RoleMap {
            roles: self.roles,
            order: ranked,
            declared: self.declared,
        })
    }
}

fn built_in() -> impl Iterator<Item = Permission> {
    BUILT_IN.iter().map(|p| Permission(p.to_string()))
}

impl Default for RoleMap {
    /// owner: everything; admin: everything but managing the workspace and
    /// its owners; member: its own tokens and the product's read and write;
    /// viewer: its own tokens and read. Ranked in that order.
    fn default() -> Self {
        let set = |ps: &[&str]| PermissionSet::parse_all(ps).expect("built-in names are valid");
        let everything: Vec<&str> = BUILT_IN
            .iter()
            .chain(DEFAULT_DECLARED.iter())
            .copied()
            .collect();
        let roles = BTreeMap::from([
            ("owner".to_string(), set(&everything)),
            (
                "admin".to_string(),
                set(&everything
                    .iter()
                    .copied()
                    .filter(|p| *p != WORKSPACE_MANAGE)
                    .collect::<Vec<_>>()),
            ),
            (
                "member".to_string(),
                set(&[TOKENS_MANAGE, "api:read", "api:write"]),
            ),
            ("viewer".to_string(), set(&[TOKENS_MANAGE, "api:read"])),
        ]);
        UnrankedRoles::new(roles, set(&DEFAULT_DECLARED))
            .expect("default roles are consistent")
            .ranked(&DEFAULT_ROLE_ORDER)
            .expect("the default order ranks every default role")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn permission_syntax() {
        assert!(Permission::parse("tasks:write").is_ok());
        assert!(Permission::parse("billing.v2:read-only").is_ok());
        assert!(Permission::parse("tasks").is_err());
        assert!(Permission::parse("Tasks:write").is_err());
        assert!(Permission::parse(":write").is_err());
        assert!(Permission::parse("tasks:").is_err());
        assert!(Permission::parse("a:b:c").is_err());
    }

    #[test]
    fn default_roles_grant_what_they_say() {
        let roles = RoleMap::default();
        assert!(roles.get("admin").unwrap().contains(API_KEYS_MANAGE));
        assert!(!roles.get("member").unwrap().contains(API_KEYS_MANAGE));
        assert!(roles.get("viewer").unwrap().contains("api:read"));
        assert!(!roles.get("viewer").unwrap().contains("api:write"));
        assert!(roles.get("ghost").is_none());
    }

    #[test]
    fn the_default_owner_outranks_and_outholds_the_admin() {
        let roles = RoleMap::default();
        assert!(roles.rank("owner") < roles.rank("admin"));
        assert!(roles.rank("admin") < roles.rank("member"));
        assert!(roles.rank("member") < roles.rank("viewer"));
        assert_eq!(roles.rank("ghost"), None);
        let owner = roles.get("owner").unwrap();
        let admin = roles.get("admin").unwrap();
        assert!(owner.contains(WORKSPACE_MANAGE));
        assert!(!admin.contains(WORKSPACE_MANAGE));
        assert!(admin.is_subset(owner));
    }

    #[test]
    fn an_order_must_rank_every_role_once_and_nothing_else() {
        let unranked = || {
            let set = |ps: &[&str]| PermissionSet::parse_all(ps).unwrap();
            let roles = BTreeMap::from([
                ("a".to_string(), set(&[TOKENS_MANAGE])),
                ("b".to_string(), set(&[])),
            ]);
            UnrankedRoles::new(roles, PermissionSet::new()).unwrap()
        };
        assert!(unranked().ranked(&["b", "a"]).is_ok());
        assert_eq!(
            unranked().ranked(&["a"]),
            Err(RoleOrderError::Missing("b".into()))
        );
        assert_eq!(
            unranked().ranked(&["a", "b", "c"]),
            Err(RoleOrderError::Unknown("c".into()))
        );
        assert_eq!(
            unranked().ranked(&["a", "b", "a"]),
            Err(RoleOrderError::Duplicate("a".into()))
        );
    }

    #[test]
    fn a_role_cannot_grant_an_undeclared_permission() {
        let roles = BTreeMap::from([(
            "x".to_string(),
            PermissionSet::parse_all(["tasks:write"]).unwrap(),
        )]);
        assert!(UnrankedRoles::new(roles, PermissionSet::new()).is_err());
    }

    proptest! {
        #[test]
        fn narrowing_never_widens(a in proptest::collection::btree_set("[a-c]:[x-z]", 0..6),
                                  b in proptest::collection::btree_set("[a-c]:[x-z]", 0..6)) {
            let a = PermissionSet::parse_all(&a).unwrap();
            let b = PermissionSet::parse_all(&b).unwrap();
            let narrowed = a.intersection(&b);
            prop_assert!(narrowed.is_subset(&a));
            prop_assert!(narrowed.is_subset(&b));
        }
    }
}
