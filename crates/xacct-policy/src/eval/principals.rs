//! Principals: who the caller is and whether a Principal element names it.

use super::document::{PrincipalSet, PrincipalType};

// ---------------------------------------------------------------------------------------------
// Principals
// ---------------------------------------------------------------------------------------------

pub(crate) use crate::arn::Arn;

pub(crate) fn parse_arn(s: &str) -> Option<Arn> {
    Arn::parse(s)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallerKind {
    /// A service principal such as `credentials.iot.amazonaws.com`.
    Service,
    /// An identity provider (`oidc-provider/...`, `saml-provider/...`) for web identity / SAML.
    Provider,
    Root,
    Role,
    Session {
        role_name: String,
    },
    Other,
}

/// The session name of the session a role-ARN caller is evaluated as.
pub(crate) const ROLE_CALLER_SESSION: &str = "session";

pub(crate) struct Caller {
    pub(crate) raw: String,
    pub(crate) arn: Option<Arn>,
    pub(crate) kind: CallerKind,
}

impl Caller {
    pub(crate) fn new(raw: &str) -> Caller {
        let arn = parse_arn(raw);
        let kind = match &arn {
            None => CallerKind::Service,
            Some(a) => {
                if a.service == "iam" && a.resource == "root" {
                    CallerKind::Root
                } else if a.service == "iam"
                    && (a.resource.starts_with("oidc-provider/")
                        || a.resource.starts_with("saml-provider/"))
                {
                    CallerKind::Provider
                } else if a.service == "iam" && a.resource.starts_with("role/") {
                    CallerKind::Role
                } else if a.service == "sts" && a.resource.starts_with("assumed-role/") {
                    let mut it = a.resource.splitn(3, '/');
                    it.next();
                    CallerKind::Session {
                        role_name: it.next().unwrap_or_default().to_string(),
                    }
                } else {
                    CallerKind::Other
                }
            }
        };
        // AWS never sees a role as the caller: a role acts through its sessions. A caller given as a
        // role ARN is evaluated as a session of that role, so a resource policy naming the role ARN
        // (not the session's) leaves the role's permissions boundary in force.
        if let (CallerKind::Role, Some(a)) = (&kind, &arn) {
            let role_name = a
                .resource
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_string();
            let session = format!(
                "arn:{}:sts::{}:assumed-role/{role_name}/{ROLE_CALLER_SESSION}",
                a.partition, a.account
            );
            return Caller {
                arn: parse_arn(&session),
                raw: session,
                kind: CallerKind::Session { role_name },
            };
        }
        Caller {
            raw: raw.to_string(),
            arn,
            kind,
        }
    }

    pub(crate) fn account(&self) -> Option<&str> {
        self.arn
            .as_ref()
            .map(|a| a.account.as_str())
            .filter(|a| !a.is_empty())
    }

    /// Only the resource-based policy decides for services and identity providers.
    pub(crate) fn resource_policy_only(&self) -> bool {
        matches!(self.kind, CallerKind::Service | CallerKind::Provider)
    }
}

/// How a `Principal` element matched the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum PrincipalMatch {
    /// Via an account (`123456789012` / `:root`) or `NotPrincipal`: delegation to the account.
    Broad,
    /// Via `*` (`"Principal": "*"` or `{"AWS": "*"}`): every principal, directly.
    Everyone,
    /// The caller's own ARN (or, for a session, its role's ARN) is named.
    Exact,
}

pub(crate) fn is_account_id(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// Match one `"AWS"` entry against the caller.
pub(crate) fn aws_entry_match(entry: &str, caller: &Caller) -> Option<PrincipalMatch> {
    if caller.resource_policy_only() {
        // {"AWS": ...} never names a service principal or an identity provider (those are
        // named with "Service" / "Federated").
        return None;
    }
    if entry == "*" {
        return Some(PrincipalMatch::Everyone);
    }
    let c_arn = caller.arn.as_ref()?;
    if is_account_id(entry) {
        return (caller.account() == Some(entry)).then_some(PrincipalMatch::Broad);
    }
    if entry == caller.raw {
        return Some(PrincipalMatch::Exact);
    }
    // Unique ids (AROA..., AIDA...) and anything else that is not an ARN match nothing.
    let e = parse_arn(entry)?;
    if e.partition != c_arn.partition || e.account != c_arn.account || e.account.is_empty() {
        return None;
    }
    if e.service == "iam" && e.resource == "root" {
        return Some(PrincipalMatch::Broad);
    }
    if e.service == "iam" {
        if let (Some(role_path), CallerKind::Session { role_name }) =
            (e.resource.strip_prefix("role/"), &caller.kind)
        {
            // A role ARN (possibly with a path) names every session of that role; the session
            // ARN carries the role name without the path.
            let name = role_path.rsplit('/').next().unwrap_or(role_path);
            if name == role_name {
                return Some(PrincipalMatch::Exact);
            }
        }
    }
    None
}

pub(crate) fn principal_match(set: &PrincipalSet, caller: &Caller) -> Option<PrincipalMatch> {
    match set {
        PrincipalSet::Everyone => Some(PrincipalMatch::Everyone),
        PrincipalSet::Map(entries) => {
            let mut best = None;
            for (t, values) in entries {
                for v in values {
                    let m = match t {
                        PrincipalType::Aws => aws_entry_match(v, caller),
                        PrincipalType::Service
                        | PrincipalType::Federated
                        | PrincipalType::CanonicalUser => {
                            (v == &caller.raw).then_some(PrincipalMatch::Exact)
                        }
                    };
                    best = best.max(m);
                }
            }
            best
        }
    }
}

/// DECISION: `NotPrincipal` excludes the caller only when the caller's own ARN is listed
/// (`*` excludes everyone; an account entry excludes only that account's root user). A role
/// ARN does not exclude the role's sessions: the NotPrincipal page tells to list the
/// assumed-role session ARN as well.
pub(crate) fn not_principal_excludes(set: &PrincipalSet, caller: &Caller) -> bool {
    match set {
        PrincipalSet::Everyone => true,
        PrincipalSet::Map(entries) => entries.iter().any(|(t, values)| {
            values.iter().any(|v| match t {
                PrincipalType::Aws => {
                    v == "*"
                        || v == &caller.raw
                        || (caller.kind == CallerKind::Root
                            && is_account_id(v)
                            && caller.account() == Some(v.as_str()))
                }
                _ => v == &caller.raw,
            })
        }),
    }
}
