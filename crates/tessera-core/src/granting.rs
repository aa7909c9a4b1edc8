//! Who may hand out a role: an API key's, an agent's, a membership's. A
//! granter may give a role only if it ranks no higher than the granter's own
//! role AND grants no permission the granter lacks. Both, because either
//! alone leaves a hole: with equal permissions (an owner and an admin of
//! some deployments) only the rank tells them apart, and a lower-ranked role
//! may still hold a permission its superior lacks.

use crate::permissions::{PermissionSet, RoleMap};

/// Whoever hands out a role.
#[derive(Debug, Clone, Copy)]
pub enum Granter<'a> {
    /// A deployment administrator acting with full authority: may grant any
    /// configured role.
    DeploymentAdmin,
    /// A member of the workspace (a person, an agent or an API key) acting
    /// with `role` (`None`: an API key made with a permission list) and
    /// holding `holds` there now.
    Member {
        role: Option<&'a str>,
        holds: &'a PermissionSet,
    },
}

/// Why a role may not be granted. The messages name the role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantRefusal {
    #[error("\"{0}\" is not a configured role")]
    UnknownRole(String),
    #[error("You cannot grant the role \"{role}\": it ranks above your own role{}.", granter_role.as_ref().map(|r| format!(" \"{r}\"")).unwrap_or_default())]
    RanksAbove {
        role: String,
        granter_role: Option<String>,
    },
    #[error("You cannot grant the role \"{role}\": it holds {} which you do not.", missing.join(", "))]
    HoldsMore { role: String, missing: Vec<String> },
}

/// The rank a granter acts with (0 is the highest): its role's, or for a
/// holder of a bare permission list, that of the highest role it holds all
/// the permissions of (it could have been given that role, no higher).
/// `None`: it ranks below every role (its role is no longer configured, or
/// it holds no role's permissions).
pub fn granter_rank(roles: &RoleMap, role: Option<&str>, holds: &PermissionSet) -> Option<usize> {
    match role {
        Some(role) => roles.rank(role),
        None => roles
            .ranked_names()
            .position(|r| roles.get(r).is_some_and(|p| p.is_subset(holds))),
    }
}

/// Whether `granter` ranks no lower than `role`: the rank half of
/// [`may_grant`], for acting on something that already holds `role` (an
/// agent whose tokens are minted, a member whose role is changed), whose
/// permissions the caller checks against what it hands out.
pub fn may_outrank(roles: &RoleMap, granter: Granter<'_>, role: &str) -> Result<(), GrantRefusal> {
    let Some(rank) = roles.rank(role) else {
        return Err(GrantRefusal::UnknownRole(role.to_owned()));
    };
    let Granter::Member {
        role: granter_role,
        holds,
    } = granter
    else {
        return Ok(());
    };
    if granter_rank(roles, granter_role, holds).is_none_or(|own| rank < own) {
        return Err(GrantRefusal::RanksAbove {
            role: role.to_owned(),
            granter_role: granter_role.map(str::to_owned),
        });
    }
    Ok(())
}

/// Whether `granter` may hand out `role`.
pub fn may_grant(roles: &RoleMap, granter: Granter<'_>, role: &str) -> Result<(), GrantRefusal> {
    may_outrank(roles, granter, role)?;
    let (Granter::Member { holds, .. }, Some(grants)) = (granter, roles.get(role)) else {
        return Ok(());
    };
    let missing = grants.missing_from(holds);
    if !missing.is_empty() {
        return Err(GrantRefusal::HoldsMore {
            role: role.to_owned(),
            missing: missing.iter().map(|p| p.to_string()).collect(),
        });
    }
    Ok(())
}

/// The roles `granter` may hand out, highest first (what a form offers).
pub fn grantable<'r>(roles: &'r RoleMap, granter: Granter<'_>) -> Vec<&'r str> {
    roles
        .ranked_names()
        .filter(|r| may_grant(roles, granter, r).is_ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::*;
    use crate::permissions::UnrankedRoles;

    fn member<'a>(role: &'a str, roles: &'a RoleMap) -> Granter<'a> {
        Granter::Member {
            role: Some(role),
            holds: roles.get(role).unwrap(),
        }
    }

    #[test]
    fn default_roles_grant_downwards_only() {
        let roles = RoleMap::default();
        assert_eq!(
            grantable(&roles, member("owner", &roles)),
            ["owner", "admin", "member", "viewer"]
        );
        assert_eq!(
            grantable(&roles, member("admin", &roles)),
            ["admin", "member", "viewer"]
        );
        assert_eq!(
            grantable(&roles, member("member", &roles)),
            ["member", "viewer"]
        );
        assert_eq!(grantable(&roles, member("viewer", &roles)), ["viewer"]);
        assert_eq!(
            grantable(&roles, Granter::DeploymentAdmin),
            ["owner", "admin", "member", "viewer"]
        );
    }

    #[test]
    fn refusals_name_the_role() {
        let roles = RoleMap::default();
        let above = may_grant(&roles, member("admin", &roles), "owner").unwrap_err();
        assert_eq!(
            above.to_string(),
            "You cannot grant the role \"owner\": it ranks above your own role \"admin\"."
        );
        assert_eq!(
            may_grant(&roles, Granter::DeploymentAdmin, "ghost"),
            Err(GrantRefusal::UnknownRole("ghost".into()))
        );
        // A narrowed token of an owner holds less than the owner role.
        let narrowed = PermissionSet::parse_all(["api:read", "tokens:manage"]).unwrap();
        let refusal = may_grant(
            &roles,
            Granter::Member {
                role: Some("owner"),
                holds: &narrowed,
            },
            "member",
        )
        .unwrap_err();
        assert_eq!(
            refusal,
            GrantRefusal::HoldsMore {
                role: "member".into(),
                missing: vec!["api:write".into()]
            }
        );
    }

    #[test]
    fn equal_permissions_are_told_apart_by_rank() {
        let set = |ps: &[&str]| PermissionSet::parse_all(ps).unwrap();
        let same = set(&["tokens:manage", "api_keys:manage"]);
        let roles = UnrankedRoles::new(
            BTreeMap::from([("boss".into(), same.clone()), ("deputy".into(), same)]),
            PermissionSet::new(),
        )
        .unwrap()
        .ranked(&["boss", "deputy"])
        .unwrap();
        assert!(matches!(
            may_grant(&roles, member("deputy", &roles), "boss"),
            Err(GrantRefusal::RanksAbove { .. })
        ));
        assert!(may_grant(&roles, member("boss", &roles), "deputy").is_ok());
    }

    #[test]
    fn a_bare_permission_list_ranks_as_the_highest_role_it_covers() {
        let roles = RoleMap::default();
        let admin_like = roles.get("admin").unwrap().clone();
        let granter = Granter::Member {
            role: None,
            holds: &admin_like,
        };
        assert_eq!(granter_rank(&roles, None, &admin_like), roles.rank("admin"));
        assert!(may_grant(&roles, granter, "owner").is_err());
        assert!(may_grant(&roles, granter, "admin").is_ok());
        let nothing = PermissionSet::new();
        assert_eq!(granter_rank(&roles, None, &nothing), None);
        assert_eq!(granter_rank(&roles, Some("ghost"), &admin_like), None);
    }

    /// Random roles over a few permissions, ranked in a random order.
    fn arbitrary_roles() -> impl Strategy<Value = RoleMap> {
        let perms = ["a:x", "a:y", "b:x", "b:y"];
        proptest::collection::vec(proptest::collection::vec(any::<bool>(), 4), 1..6).prop_flat_map(
            move |masks| {
                let n = masks.len();
                let roles: BTreeMap<String, PermissionSet> = masks
                    .iter()
                    .enumerate()
                    .map(|(i, mask)| {
                        let held = perms
                            .iter()
                            .zip(mask)
                            .filter(|(_, on)| **on)
                            .map(|(p, _)| *p);
                        (format!("r{i}"), PermissionSet::parse_all(held).unwrap())
                    })
                    .collect();
                let declared = PermissionSet::parse_all(perms).unwrap();
                Just((0..n).collect::<Vec<_>>())
                    .prop_shuffle()
                    .prop_map(move |order| {
                        let order: Vec<String> = order.iter().map(|i| format!("r{i}")).collect();
                        UnrankedRoles::new(roles.clone(), declared.clone())
                            .unwrap()
                            .ranked(&order)
                            .unwrap()
                    })
            },
        )
    }

    proptest! {
        /// Whatever the roles and their order: a granted role never ranks
        /// above its granter nor holds a permission the granter lacks, and
        /// every role may grant itself.
        #[test]
        fn a_grant_never_exceeds_its_granter(roles in arbitrary_roles(), narrowing in proptest::collection::vec(any::<bool>(), 4)) {
            let names: Vec<String> = roles.ranked_names().map(str::to_owned).collect();
            let narrowing = PermissionSet::parse_all(
                ["a:x", "a:y", "b:x", "b:y"].iter().zip(&narrowing).filter(|(_, on)| **on).map(|(p, _)| *p),
            ).unwrap();
            for granter_role in &names {
                let full = roles.get(granter_role).unwrap();
                prop_assert!(may_grant(&roles, member(granter_role, &roles), granter_role).is_ok());
                let holds = full.intersection(&narrowing);
                let granter = Granter::Member { role: Some(granter_role), holds: &holds };
                for role in &names {
                    prop_assert_eq!(
                        may_outrank(&roles, member(granter_role, &roles), role).is_ok(),
                        roles.rank(role) >= roles.rank(granter_role)
                    );
                    if may_grant(&roles, granter, role).is_ok() {
                        prop_assert!(roles.rank(role) >= roles.rank(granter_role));
                        prop_assert!(roles.get(role).unwrap().is_subset(&holds));
                    }
                }
            }
        }
    }
}
