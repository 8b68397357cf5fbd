//! The organization an account is in, as AWS applies it to a request: read from moto's Organizations
//! as the accounts hold it (each test's organization is its own management account's, so tests
//! sharing one sandbox never see each other's), and the words of AWS's AccessDenied messages for the
//! layer that denied. SCPs limit the principals of member accounts, RCPs the resources of member
//! accounts; the management account is under neither.

use crate::State;
use aws_sdk_organizations::types::{ParentType, PolicyType};
use xacct_policy::eval::{Decision, OrgLayer, OrgPolicy, Outcome};

/// One account's place in its organization.
#[derive(Debug, Clone, Default)]
pub struct Place {
    /// The organization's id (`o-…`), when the account is in one.
    pub org_id: Option<String>,
    /// The management account's id.
    pub management: String,
    /// `o-…/r-…/ou-…/` (`aws:PrincipalOrgPaths`), for a member account.
    pub path: Option<String>,
    /// The SCPs at each level, root first, the account last (none for the management account).
    pub scps: Vec<Vec<OrgPolicy>>,
    /// The RCPs at each level, likewise.
    pub rcps: Vec<Vec<OrgPolicy>>,
}

/// Where `account` stands in its organization (the default: in none).
pub async fn place(state: &State, account: &str, region: &str) -> Place {
    let c = state.admin.get(account, region).await;
    let Ok(o) = c.organizations().describe_organization().send().await else {
        return Place::default();
    };
    let Some(org) = o.organization() else {
        return Place::default();
    };
    let mut p = Place {
        org_id: org.id().map(String::from),
        management: org.master_account_id().unwrap_or_default().to_string(),
        ..Default::default()
    };
    if p.management == account || p.org_id.is_none() {
        return p;
    }
    let m = state.admin.get(&p.management, region).await;
    let orgs = m.organizations();
    let mut levels = vec![account.to_string()];
    let mut child = account.to_string();
    loop {
        let Ok(parents) = orgs.list_parents().child_id(&child).send().await else {
            // not a member after all (moto keeps an account's view of an organization it left)
            return Place {
                org_id: None,
                ..Default::default()
            };
        };
        let Some(parent) = parents.parents().first() else {
            break;
        };
        let id = parent.id().unwrap_or_default().to_string();
        levels.push(id.clone());
        if parent.r#type() == Some(&ParentType::Root) {
            break;
        }
        child = id;
    }
    levels.reverse();
    p.path = Some(format!(
        "{}/{}/",
        p.org_id.as_deref().unwrap_or_default(),
        levels[..levels.len() - 1].join("/")
    ));
    for target in &levels {
        for kind in [
            PolicyType::ServiceControlPolicy,
            PolicyType::ResourceControlPolicy,
        ] {
            let mut level = Vec::new();
            if let Ok(l) = orgs
                .list_policies_for_target()
                .target_id(target)
                .filter(kind.clone())
                .send()
                .await
            {
                for s in l.policies() {
                    let Some(id) = s.id() else { continue };
                    let Ok(d) = orgs.describe_policy().policy_id(id).send().await else {
                        continue;
                    };
                    let content = d.policy().and_then(|p| p.content()).unwrap_or("{}");
                    let Ok(doc) = xacct_policy::document::parse_document(content) else {
                        continue;
                    };
                    level.push(OrgPolicy {
                        name: s.name().unwrap_or(id).to_string(),
                        policy: doc,
                        id: Some(id.to_string()),
                        target: Some(target.clone()),
                    });
                }
            }
            match kind {
                PolicyType::ServiceControlPolicy => p.scps.push(level),
                _ => p.rcps.push(level),
            }
        }
    }
    p
}

/// What an organization adds to one request: the context keys AWS sets for the caller, the SCPs
/// over the caller, the RCPs over the resource, and where to point in a denial's message.
#[derive(Debug, Clone, Default)]
pub struct Layers {
    pub context: serde_json::Map<String, serde_json::Value>,
    pub scps: Vec<Vec<OrgPolicy>>,
    pub rcps: Vec<Vec<OrgPolicy>>,
    /// The management account, when caller and resource are in one organization (AWS then names
    /// the policy's ARN in its message).
    pub management: String,
    pub same_org: Option<String>,
}

/// The organization's layers of a request by a principal of `caller` on a resource of `owner`.
pub async fn layers(state: &State, caller: &str, owner: &str, region: &str) -> Layers {
    let who = place(state, caller, region).await;
    let res = if owner == caller || owner.is_empty() {
        who.clone()
    } else {
        place(state, owner, region).await
    };
    let mut context = serde_json::Map::new();
    if let Some(id) = &who.org_id {
        context.insert("aws:PrincipalOrgID".into(), id.clone().into());
    }
    if let Some(path) = &who.path {
        context.insert(
            "aws:PrincipalOrgPaths".into(),
            serde_json::Value::Array(vec![path.clone().into()]),
        );
    }
    if let Some(id) = &res.org_id {
        context.insert("aws:ResourceOrgID".into(), id.clone().into());
    }
    if let Some(path) = &res.path {
        context.insert(
            "aws:ResourceOrgPaths".into(),
            serde_json::Value::Array(vec![path.clone().into()]),
        );
    }
    let same_org = who
        .org_id
        .clone()
        .filter(|o| res.org_id.as_ref() == Some(o));
    Layers {
        context,
        scps: who.scps,
        rcps: res.rcps,
        management: who.management,
        same_org,
    }
}

/// The end of AWS's AccessDenied message for a denial `o` of `action`: the kind of policy that
/// denied ("with an explicit deny in a service control policy", "because no identity-based policy
/// allows the ACTION action") and, within one organization (`same_org`), an organization policy's
/// ARN. AWS names one policy type at most.
pub fn reason(o: &Outcome, action: &str, management: &str, org_id: Option<&str>) -> String {
    let explicit = o.decision == Decision::ExplicitDeny;
    if let Some(d) = o.organization.first() {
        let (kind, words) = match d.layer {
            OrgLayer::Scp => ("service_control_policy", "service control policy"),
            OrgLayer::Rcp => ("resource_control_policy", "resource control policy"),
        };
        let arn = match (org_id, &d.id) {
            (Some(org), Some(id)) if !management.is_empty() => {
                format!(": arn:aws:organizations::{management}:policy/{org}/{kind}/{id}")
            }
            _ => String::new(),
        };
        return if explicit {
            format!(" with an explicit deny in a {words}{arn}")
        } else {
            format!(" because no {words} allows the {action} action")
        };
    }
    let by = |p: &str| o.statements.iter().any(|s| s.starts_with(p));
    let words = if by("boundary") {
        "permissions boundary"
    } else if by("resource") {
        "resource-based policy"
    } else {
        "identity-based policy"
    };
    if explicit {
        let a = if words.starts_with('i') { "an" } else { "a" };
        format!(" with an explicit deny in {a} {words}")
    } else {
        format!(" because no {words} allows the {action} action")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xacct_policy::eval::OrgDecider;

    #[test]
    fn the_message_names_the_layer_and_within_an_organization_the_policy() {
        let mut o = Outcome {
            decision: Decision::ExplicitDeny,
            statements: vec!["scp[1].no-assume.NoAssume".into()],
            organization: vec![OrgDecider {
                layer: OrgLayer::Scp,
                level: 1,
                name: "no-assume".into(),
                id: Some("p-abc".into()),
                target: Some("ou-x".into()),
            }],
        };
        assert_eq!(
            reason(&o, "sts:AssumeRole", "111111111111", Some("o-1")),
            " with an explicit deny in a service control policy: arn:aws:organizations::111111111111:policy/o-1/service_control_policy/p-abc"
        );
        o.decision = Decision::ImplicitDeny;
        assert_eq!(
            reason(&o, "lambda:InvokeFunction", "", None),
            " because no service control policy allows the lambda:InvokeFunction action"
        );
        o.organization.clear();
        o.statements = vec!["resource.X".into()];
        assert_eq!(
            reason(&o, "s3:GetObject", "", None),
            " because no resource-based policy allows the s3:GetObject action"
        );
    }
}
