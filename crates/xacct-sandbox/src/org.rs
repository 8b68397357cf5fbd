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
    if let Some(m) = state.registry.org_model_of(account) {
        return m.place_of(account);
    }
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
    // an organization without RCPs enabled has none at any level
    if p.rcps.iter().all(|l| l.is_empty()) {
        p.rcps.clear();
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

/// An organization the sandbox keeps itself, for accounts moto cannot place in one (moto makes an
/// organization only out of accounts it creates, with ids of its own): `sandbox up --bootstrap`
/// builds one for a file's accounts, and the gateway answers the Organizations reads of its
/// accounts from it, as AWS would.
#[derive(Debug, Clone)]
pub struct OrgModel {
    pub id: String,
    pub management: String,
    pub root: String,
    /// (OU id, name, parent id)
    pub ous: Vec<(String, String, String)>,
    /// Account → its parent (the root or an OU).
    pub parents: BTreeMap<String, String>,
    pub policies: Vec<ModelPolicy>,
}

#[derive(Debug, Clone)]
pub struct ModelPolicy {
    pub id: String,
    pub name: String,
    /// `SERVICE_CONTROL_POLICY` or `RESOURCE_CONTROL_POLICY`.
    pub kind: String,
    pub content: serde_json::Value,
    /// The roots, OUs and accounts it is attached to.
    pub targets: Vec<String>,
}

use std::collections::BTreeMap;

fn short_hash(s: &str, n: usize) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    format!("{:016x}{:016x}", h.finish(), h.finish().rotate_left(17))[..n].to_string()
}

impl OrgModel {
    /// A small organization: `management` and `at_root` under the root, `in_ou` in one OU
    /// (`workloads`); FullAWSAccess and RCPFullAWSAccess attached everywhere, as AWS does, and one
    /// SCP at the root that denies leaving the organization (it limits nothing a chain does).
    pub fn small(management: &str, at_root: &[String], in_ou: &[String]) -> OrgModel {
        let id = format!("o-{}", short_hash(management, 10));
        let root = format!("r-{}", short_hash(&id, 4));
        let ou = format!(
            "ou-{}-{}",
            &root[2..],
            short_hash(&format!("{id}/workloads"), 8)
        );
        let mut parents = BTreeMap::new();
        parents.insert(management.to_string(), root.clone());
        for a in at_root {
            parents.entry(a.clone()).or_insert(root.clone());
        }
        for a in in_ou {
            parents.entry(a.clone()).or_insert(ou.clone());
        }
        let mut everywhere = vec![root.clone(), ou.clone()];
        everywhere.extend(parents.keys().cloned());
        OrgModel {
            policies: vec![
                ModelPolicy {
                    id: "p-FullAWSAccess".into(),
                    name: "FullAWSAccess".into(),
                    kind: "SERVICE_CONTROL_POLICY".into(),
                    content: serde_json::json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}),
                    targets: everywhere.clone(),
                },
                ModelPolicy {
                    id: "p-RCPFullAWSAccess".into(),
                    name: "RCPFullAWSAccess".into(),
                    kind: "RESOURCE_CONTROL_POLICY".into(),
                    content: serde_json::json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]}),
                    targets: everywhere.clone(),
                },
                ModelPolicy {
                    id: format!("p-{}", short_hash(&format!("{id}/stay"), 8)),
                    name: "deny-leave-organization".into(),
                    kind: "SERVICE_CONTROL_POLICY".into(),
                    content: serde_json::json!({"Version":"2012-10-17","Statement":[{"Sid":"Stay","Effect":"Deny","Action":"organizations:LeaveOrganization","Resource":"*"}]}),
                    targets: vec![root.clone()],
                },
            ],
            ous: vec![(ou, "workloads".into(), root.clone())],
            parents,
            root,
            id,
            management: management.to_string(),
        }
    }

    fn arn(&self, what: &str) -> String {
        format!("arn:aws:organizations::{}:{what}", self.management)
    }

    /// The levels above `account`, root first, the account last (None: not a member).
    fn levels(&self, account: &str) -> Option<Vec<String>> {
        let mut levels = vec![account.to_string()];
        let mut at = self.parents.get(account)?.clone();
        loop {
            levels.push(at.clone());
            if at == self.root {
                break;
            }
            at = self.ous.iter().find(|(id, _, _)| *id == at)?.2.clone();
        }
        levels.reverse();
        Some(levels)
    }

    /// `account`'s place, as `place` reads it from moto.
    pub fn place_of(&self, account: &str) -> Place {
        let mut p = Place {
            org_id: Some(self.id.clone()),
            management: self.management.clone(),
            ..Default::default()
        };
        if account == self.management {
            return p;
        }
        let Some(levels) = self.levels(account) else {
            return Place::default();
        };
        p.path = Some(format!(
            "{}/{}/",
            self.id,
            levels[..levels.len() - 1].join("/")
        ));
        for l in &levels {
            for (kind, out) in [
                ("SERVICE_CONTROL_POLICY", &mut p.scps),
                ("RESOURCE_CONTROL_POLICY", &mut p.rcps),
            ] {
                out.push(
                    self.policies
                        .iter()
                        .filter(|x| x.kind == kind && x.targets.contains(l))
                        .map(|x| OrgPolicy {
                            name: x.name.clone(),
                            policy: x.content.clone(),
                            id: Some(x.id.clone()),
                            target: Some(l.clone()),
                        })
                        .collect(),
                );
            }
        }
        if p.rcps.iter().all(|l| l.is_empty()) {
            p.rcps.clear();
        }
        p
    }

    fn summary(&self, x: &ModelPolicy) -> serde_json::Value {
        serde_json::json!({"Id": x.id, "Arn": self.arn(&format!("policy/{}/{}/{}", self.id, x.kind.to_lowercase(), x.id)),
            "Name": x.name, "Description": x.name, "Type": x.kind, "AwsManaged": x.id == "p-FullAWSAccess"})
    }

    /// The answer to an Organizations request `op` (JSON `body`) from `caller`, as AWS gives it:
    /// `(status, body)`.
    pub fn answer(
        &self,
        op: &str,
        body: &serde_json::Value,
        caller: &str,
    ) -> (u16, serde_json::Value) {
        let err = |code: &str, m: &str| (400, serde_json::json!({"__type": code, "Message": m}));
        let field = |k: &str| body.get(k).and_then(|v| v.as_str()).unwrap_or_default();
        let management_only = !matches!(op, "DescribeOrganization");
        if management_only && caller != self.management {
            return err(
                "AccessDeniedException",
                "You don't have permissions to access this resource.",
            );
        }
        match op {
            "DescribeOrganization" => (
                200,
                serde_json::json!({"Organization": {
                "Id": self.id, "Arn": self.arn(&format!("organization/{}", self.id)), "FeatureSet": "ALL",
                "MasterAccountArn": self.arn(&format!("account/{}/{}", self.id, self.management)),
                "MasterAccountId": self.management, "MasterAccountEmail": format!("{}@example.com", self.management),
                "AvailablePolicyTypes": [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}, {"Type": "RESOURCE_CONTROL_POLICY", "Status": "ENABLED"}]}}),
            ),
            "ListRoots" => (
                200,
                serde_json::json!({"Roots": [{"Id": self.root, "Arn": self.arn(&format!("root/{}/{}", self.id, self.root)), "Name": "Root",
                "PolicyTypes": [{"Type": "SERVICE_CONTROL_POLICY", "Status": "ENABLED"}, {"Type": "RESOURCE_CONTROL_POLICY", "Status": "ENABLED"}]}]}),
            ),
            "ListParents" => {
                let child = field("ChildId");
                let parent = self.parents.get(child).cloned().or_else(|| {
                    self.ous
                        .iter()
                        .find(|(id, _, _)| id == child)
                        .map(|o| o.2.clone())
                });
                match parent {
                    Some(p) => (
                        200,
                        serde_json::json!({"Parents": [{"Id": p, "Type": if p == self.root { "ROOT" } else { "ORGANIZATIONAL_UNIT" }}]}),
                    ),
                    None => err(
                        "ChildNotFoundException",
                        &format!("We can't find a child with ID {child}."),
                    ),
                }
            }
            "ListPoliciesForTarget" => {
                let (target, filter) = (field("TargetId"), field("Filter"));
                let v: Vec<serde_json::Value> = self
                    .policies
                    .iter()
                    .filter(|x| x.kind == filter && x.targets.iter().any(|t| t == target))
                    .map(|x| self.summary(x))
                    .collect();
                (200, serde_json::json!({"Policies": v}))
            }
            "DescribePolicy" => match self.policies.iter().find(|x| x.id == field("PolicyId")) {
                Some(x) => (
                    200,
                    serde_json::json!({"Policy": {"PolicySummary": self.summary(x), "Content": x.content.to_string()}}),
                ),
                None => err(
                    "PolicyNotFoundException",
                    "We can't find a policy with the PolicyId that you specified.",
                ),
            },
            other => err(
                "UnsupportedAPIEndpointException",
                &format!("the sandbox's organization does not answer {other}"),
            ),
        }
    }
}

#[cfg(test)]
mod model_tests {
    use super::*;

    #[test]
    fn the_small_organization_places_accounts_and_answers_as_aws() {
        let m = OrgModel::small(
            "111111111111",
            &["444444444444".into()],
            &["222222222222".into()],
        );
        let p = m.place_of("222222222222");
        assert_eq!(p.org_id.as_deref(), Some(m.id.as_str()));
        assert_eq!(p.scps.len(), 3, "root, OU, account");
        assert!(p
            .rcps
            .iter()
            .all(|l| l.iter().any(|x| x.name == "RCPFullAWSAccess")));
        assert!(p.scps[0]
            .iter()
            .any(|x| x.name == "deny-leave-organization"));
        assert!(p
            .path
            .unwrap()
            .starts_with(&format!("{}/{}/ou-", m.id, m.root)));
        assert!(
            m.place_of("111111111111").scps.is_empty(),
            "management exempt"
        );
        assert!(m.place_of("999999999999").org_id.is_none());
        let (s, v) = m.answer(
            "ListParents",
            &serde_json::json!({"ChildId": "222222222222"}),
            "111111111111",
        );
        assert_eq!(s, 200);
        assert_eq!(v["Parents"][0]["Type"], "ORGANIZATIONAL_UNIT");
        let (s, v) = m.answer(
            "ListParents",
            &serde_json::json!({"ChildId": "999999999999"}),
            "111111111111",
        );
        assert_eq!(
            (s, v["__type"].as_str()),
            (400, Some("ChildNotFoundException"))
        );
        let (s, _) = m.answer(
            "ListParents",
            &serde_json::json!({"ChildId": "222222222222"}),
            "222222222222",
        );
        assert_eq!(s, 400, "members may not read the organization's structure");
        let (s, v) = m.answer(
            "DescribeOrganization",
            &serde_json::json!({}),
            "222222222222",
        );
        assert_eq!(s, 200);
        assert_eq!(v["Organization"]["MasterAccountId"], "111111111111");
    }
}
