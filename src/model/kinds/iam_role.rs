//! `iam_role`: a role xacct creates (the IoT role, a target role). Owned when tagged
//! `xacct:fleet=<fleet>` and, for a role of one environment, `xacct:env=<env>` (a role of the fleet
//! without the environment tag, made by an older xacct, gains it in its next apply).

use super::{absent, doc, gone, Diff, Found, Managed, Owners, Spec, Step, Writing};
use crate::aws::{retry_consistency, AwsError, Clients};
use crate::aws::{Call, Use};
use crate::config::{Config, ENV_TAG, OWNER_TAG};
use crate::model::{Addr, Kind};
use crate::policy;
use aws_sdk_iam::types::Tag;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct IamRole {
    pub role_name: String,
    pub path: String,
    pub assume_role_policy: Value,
    pub max_session_duration: i32,
    pub tags: BTreeMap<String, String>,
}

impl IamRole {
    /// Who owns this live role, when it is not the fleet and environment of `want` (None: ours).
    fn other_owner(&self, want_fleet: &str, want_env: Option<&str>) -> Option<String> {
        let env = self.tags.get(ENV_TAG).map(String::as_str);
        match self.tags.get(OWNER_TAG) {
            None => Some(format!("the role has no {OWNER_TAG} tag")),
            Some(f) if f != want_fleet => Some(format!("tagged {OWNER_TAG}={f}")),
            Some(_) => match (env, want_env) {
                (Some(e), Some(w)) if e != w => Some(format!("tagged {ENV_TAG}={e}")),
                (Some(e), None) => Some(format!("tagged {ENV_TAG}={e}")),
                _ => None,
            },
        }
    }
}

fn tags(t: &BTreeMap<String, String>) -> Vec<Tag> {
    t.iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

impl Managed for IamRole {
    const KIND: Kind = Kind::IamRole;

    fn of(s: &Spec) -> Option<&Self> {
        if let Spec::IamRole(x) = s {
            Some(x)
        } else {
            None
        }
    }

    fn addr_name(&self) -> String {
        self.role_name.clone()
    }

    fn attrs(&self) -> Value {
        json!({
            "role_name": self.role_name, "path": self.path,
            "max_session_duration": self.max_session_duration, "tags": self.tags,
            "assume_role_policy": policy::normalize(&self.assume_role_policy)})
    }

    fn document(&self) -> Option<&Value> {
        Some(&self.assume_role_policy)
    }

    fn differs(&self, live: &Self) -> bool {
        !policy::same(&self.assume_role_policy, &live.assume_role_policy)
            || self.max_session_duration != live.max_session_duration
            || self.tags.iter().any(|(k, v)| live.tags.get(k) != Some(v))
    }

    fn broadens(&self, before: Option<&Self>) -> Vec<String> {
        match before {
            Some(b) => policy::broadening(&b.assume_role_policy, &self.assume_role_policy),
            None => vec![],
        }
    }

    fn owned(&self, o: &Owners, addr: &Addr) -> bool {
        self.other_owner(&o.cfg.fleet, o.env_tag(addr)).is_none()
    }

    fn conflict(&self, o: &Owners) -> String {
        match (self.tags.get(OWNER_TAG), self.tags.get(ENV_TAG)) {
            (Some(f), _) if *f != o.cfg.fleet => format!(
                "conflict: role is owned by fleet `{f}` (tag {OWNER_TAG}={f}), not `{}`",
                o.cfg.fleet
            ),
            (Some(f), Some(e)) => format!(
                "conflict: role is owned by environment `{e}` of fleet `{f}` (tag {ENV_TAG}={e})"
            ),
            _ => {
                format!("conflict: role exists without the {OWNER_TAG} tag; xacct does not own it")
            }
        }
    }

    fn plan(&self, live: &Self, addr: &Addr, d: &Diff) -> Step {
        if !live.owned(&d.owners, addr) {
            Step::Adopt(vec![live.conflict(&d.owners)])
        } else if live.path != self.path {
            Step::Replace(vec![format!(
                "the role's path must be {}; IAM cannot change a path in place",
                self.path
            )])
        } else if self.differs(live) {
            let mut notes = Vec::new();
            for p in policy::aws_principals(&live.assume_role_policy) {
                if p.starts_with("AROA") || p.starts_with("AIDA") {
                    notes.push(format!(
                        "trust names {p}: AWS replaced a deleted role's ARN with its unique id, so re-creating the role did not restore trust; the update names the role ARN again"
                    ));
                }
            }
            if let Some(e) = self.tags.get(ENV_TAG) {
                if !live.tags.contains_key(ENV_TAG) {
                    notes.push(format!("the role gains the tag {ENV_TAG}={e}"));
                }
            }
            Step::Update(notes)
        } else {
            Step::Keep
        }
    }

    fn leftover(&self, addr: &Addr, d: &Diff) -> Option<String> {
        self.owned(&d.owners, addr).then(|| d.layout_note())
    }

    fn calls(&self, cfg: &Config, account: &str, u: Use) -> Vec<Call> {
        let arn = super::role_arn(cfg, account, &self.role_name);
        Call::each(
            match u {
                Use::Read => &["iam:GetRole"],
                Use::Write => &[
                    "iam:GetRole",
                    "iam:CreateRole",
                    "iam:TagRole",
                    "iam:UpdateAssumeRolePolicy",
                    "iam:UpdateRole",
                ],
                Use::Delete => &[
                    "iam:ListRolePolicies",
                    "iam:DeleteRolePolicy",
                    "iam:ListAttachedRolePolicies",
                    "iam:DetachRolePolicy",
                    "iam:DeleteRole",
                ],
            },
            &arn,
        )
    }

    async fn read(&self, c: &Clients) -> Result<Option<Found>, AwsError> {
        read(c, &self.role_name).await
    }

    async fn create(&self, c: &Clients, w: &Writing) -> Result<(), AwsError> {
        let r = {
            let _slot = c.slot().await?;
            retry_consistency(|| async {
                c.iam()
                    .create_role()
                    .role_name(&self.role_name)
                    .path(&self.path)
                    .assume_role_policy_document(doc(&self.assume_role_policy))
                    .max_session_duration(self.max_session_duration)
                    .description("Managed by xacct")
                    .set_tags(Some(tags(&self.tags)))
                    .send()
                    .await
                    .map_err(|e| c.err("iam:CreateRole", &self.role_name, e))
            })
            .await
        };
        match r {
            Ok(_) => Ok(()),
            // created since the plan: converge when it is ours (an interrupted apply), else refuse
            Err(e) if e.already_exists() => {
                let live = read(c, &self.role_name).await?;
                let owner = live.and_then(|f| {
                    let l = IamRole::of(&f.live.spec)?;
                    l.other_owner(
                        self.tags.get(OWNER_TAG).map_or("", String::as_str),
                        self.tags.get(ENV_TAG).map(String::as_str),
                    )
                });
                w.may_take(c, "iam:CreateRole", &self.role_name, owner)?;
                self.update(c).await
            }
            Err(e) => Err(e),
        }
    }

    async fn update(&self, c: &Clients) -> Result<(), AwsError> {
        let _slot = c.slot().await?;
        let name = &self.role_name;
        retry_consistency(|| async {
            c.iam()
                .update_assume_role_policy()
                .role_name(name)
                .policy_document(doc(&self.assume_role_policy))
                .send()
                .await
                .map_err(|e| c.err("iam:UpdateAssumeRolePolicy", name, e))
        })
        .await?;
        c.iam()
            .update_role()
            .role_name(name)
            .max_session_duration(self.max_session_duration)
            .send()
            .await
            .map_err(|e| c.err("iam:UpdateRole", name, e))?;
        c.iam()
            .tag_role()
            .role_name(name)
            .set_tags(Some(tags(&self.tags)))
            .send()
            .await
            .map_err(|e| c.err("iam:TagRole", name, e))?;
        Ok(())
    }

    async fn delete(&self, c: &Clients) -> Result<(), AwsError> {
        let _slot = c.slot().await?;
        let name = &self.role_name;
        // inline policies and managed attachments must go first
        let inline: Result<Vec<String>, _> = c
            .iam()
            .list_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await;
        let inline = match inline {
            Ok(names) => names,
            Err(e) => return gone(c.err("iam:ListRolePolicies", name, e)),
        };
        for p in inline {
            if let Err(e) = c
                .iam()
                .delete_role_policy()
                .role_name(name)
                .policy_name(&p)
                .send()
                .await
            {
                gone(c.err("iam:DeleteRolePolicy", &format!("{name}/{p}"), e))?;
            }
        }
        let attached = c
            .iam()
            .list_attached_role_policies()
            .role_name(name)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| c.err("iam:ListAttachedRolePolicies", name, e))?;
        for p in &attached {
            if let Some(arn) = p.policy_arn() {
                c.iam()
                    .detach_role_policy()
                    .role_name(name)
                    .policy_arn(arn)
                    .send()
                    .await
                    .map_err(|e| c.err("iam:DetachRolePolicy", name, e))?;
            }
        }
        match c.iam().delete_role().role_name(name).send().await {
            Ok(_) => Ok(()),
            Err(e) => gone(c.err("iam:DeleteRole", name, e)),
        }
    }
}

/// A role (its trust normalized) and the ARN of its permissions boundary, if it has one.
/// The inline and attached policies of a role xacct does not own, which an adoption leaves as they
/// are; best effort (a refused listing names nothing: plan's own permissions do not include it).
async fn others(c: &Clients, name: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(p) = c.iam().list_role_policies().role_name(name).send().await {
        for n in p.policy_names() {
            out.push(format!("inline policy {n}"));
        }
    }
    if let Ok(p) = c
        .iam()
        .list_attached_role_policies()
        .role_name(name)
        .send()
        .await
    {
        for a in p.attached_policies() {
            if let Some(arn) = a.policy_arn() {
                out.push(format!("managed policy {arn}"));
            }
        }
    }
    out
}

pub async fn read(c: &Clients, name: &str) -> Result<Option<Found>, AwsError> {
    let _slot = c.slot().await?;
    match c.iam().get_role().role_name(name).send().await {
        Ok(out) => {
            let Some(r) = out.role() else { return Ok(None) };
            let boundary = r
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(String::from);
            let trust = r.assume_role_policy_document().unwrap_or("{}");
            let doc =
                policy::parse_document(trust).map_err(|m| c.unreadable("iam:GetRole", name, m))?;
            let tags: BTreeMap<String, String> = r
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect();
            let mut found = Found::new(
                Spec::IamRole(IamRole {
                    role_name: r.role_name().to_string(),
                    path: r.path().to_string(),
                    assume_role_policy: policy::normalize(&doc),
                    max_session_duration: r.max_session_duration().unwrap_or(3600),
                    tags,
                }),
                Some(r.arn().to_string()),
            );
            found.boundary = boundary;
            if !r.tags().iter().any(|t| t.key() == OWNER_TAG) {
                found.others = others(c, name).await;
            }
            Ok(Some(found))
        }
        Err(e) => absent(c.err("iam:GetRole", name, e)),
    }
}
