//! Writes: the SDK calls that create, update and delete each resource kind. Each is idempotent
//! where AWS allows it, so an apply that was interrupted can simply be run again.

use super::{retry_consistency, AwsError, Clients};
use crate::model::Spec;
use aws_sdk_iam::types::Tag;
use std::collections::BTreeMap;

fn doc(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn tags(t: &BTreeMap<String, String>) -> Vec<Tag> {
    t.iter()
        .filter_map(|(k, v)| Tag::builder().key(k).value(v).build().ok())
        .collect()
}

/// Create the resource `s` describes (updating it when an interrupted apply already created it).
pub async fn create(c: &Clients, s: &Spec) -> Result<(), AwsError> {
    let _slot = c.slot().await?;
    match s {
        Spec::IamRole {
            role_name,
            path,
            assume_role_policy,
            max_session_duration,
            tags: t,
        } => {
            let r = retry_consistency(|| async {
                c.iam()
                    .create_role()
                    .role_name(role_name)
                    .path(path)
                    .assume_role_policy_document(doc(assume_role_policy))
                    .max_session_duration(*max_session_duration)
                    .description("Managed by xacct")
                    .set_tags(Some(tags(t)))
                    .send()
                    .await
                    .map_err(|e| c.err("iam:CreateRole", role_name, e))
            })
            .await;
            match r {
                Ok(_) => Ok(()),
                // an earlier, interrupted apply created it: converge by updating instead
                Err(e) if e.already_exists() => {
                    drop(_slot);
                    update(c, s).await
                }
                Err(e) => Err(e),
            }
        }
        Spec::IamRolePolicy { .. } | Spec::SourceRolePolicy { .. } => {
            drop(_slot);
            update(c, s).await
        }
        Spec::IotRoleAlias {
            role_alias,
            role_arn,
            credential_duration,
        } => {
            let r = retry_consistency(|| async {
                c.iot()
                    .create_role_alias()
                    .role_alias(role_alias)
                    .role_arn(role_arn)
                    .credential_duration_seconds(*credential_duration)
                    .send()
                    .await
                    .map_err(|e| c.err("iot:CreateRoleAlias", role_alias, e))
            })
            .await;
            match r {
                Ok(_) => Ok(()),
                Err(e) if e.already_exists() => {
                    drop(_slot);
                    update(c, s).await
                }
                Err(e) => Err(e),
            }
        }
        Spec::IotPolicy {
            policy_name,
            policy,
        } => {
            match c
                .iot()
                .create_policy()
                .policy_name(policy_name)
                .policy_document(doc(policy))
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => {
                    let e = c.err("iot:CreatePolicy", policy_name, e);
                    if e.already_exists() {
                        drop(_slot);
                        update(c, s).await
                    } else {
                        Err(e)
                    }
                }
            }
        }
        Spec::IotPolicyAttachment {
            policy_name,
            target,
            ..
        } => attach(c, policy_name, target).await,
        Spec::LambdaPermission { .. } => {
            drop(_slot);
            update(c, s).await
        }
    }
}

/// Remove xacct's statement from a function's policy (absent is fine).
async fn remove_permission(c: &Clients, function: &str, sid: &str) -> Result<(), AwsError> {
    match c
        .lambda()
        .remove_permission()
        .function_name(function)
        .statement_id(sid)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => {
            let e = c.err("lambda:RemovePermission", &format!("{function}/{sid}"), e);
            if e.not_found() {
                Ok(())
            } else {
                Err(e)
            }
        }
    }
}

async fn attach(c: &Clients, policy_name: &str, target: &str) -> Result<(), AwsError> {
    c.iot()
        .attach_policy()
        .policy_name(policy_name)
        .target(target)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| c.err("iot:AttachPolicy", &format!("{policy_name} → {target}"), e))
}

/// Bring the existing resource to `s`.
pub async fn update(c: &Clients, s: &Spec) -> Result<(), AwsError> {
    let _slot = c.slot().await?;
    match s {
        Spec::IamRole {
            role_name,
            assume_role_policy,
            max_session_duration,
            tags: t,
            ..
        } => {
            retry_consistency(|| async {
                c.iam()
                    .update_assume_role_policy()
                    .role_name(role_name)
                    .policy_document(doc(assume_role_policy))
                    .send()
                    .await
                    .map_err(|e| c.err("iam:UpdateAssumeRolePolicy", role_name, e))
            })
            .await?;
            c.iam()
                .update_role()
                .role_name(role_name)
                .max_session_duration(*max_session_duration)
                .send()
                .await
                .map_err(|e| c.err("iam:UpdateRole", role_name, e))?;
            c.iam()
                .tag_role()
                .role_name(role_name)
                .set_tags(Some(tags(t)))
                .send()
                .await
                .map_err(|e| c.err("iam:TagRole", role_name, e))?;
            Ok(())
        }
        Spec::IamRolePolicy {
            role_name,
            policy_name,
            policy,
        }
        | Spec::SourceRolePolicy {
            role_name,
            policy_name,
            policy,
        } => c
            .iam()
            .put_role_policy()
            .role_name(role_name)
            .policy_name(policy_name)
            .policy_document(doc(policy))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                c.err(
                    "iam:PutRolePolicy",
                    &format!("{role_name}/{policy_name}"),
                    e,
                )
            }),
        Spec::IotRoleAlias {
            role_alias,
            role_arn,
            credential_duration,
        } => {
            retry_consistency(|| async {
                c.iot()
                    .update_role_alias()
                    .role_alias(role_alias)
                    .role_arn(role_arn)
                    .credential_duration_seconds(*credential_duration)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| c.err("iot:UpdateRoleAlias", role_alias, e))
            })
            .await
        }
        Spec::IotPolicy {
            policy_name,
            policy,
        } => {
            // Idempotent: an interrupted or concurrent apply may already have written this document.
            if let Ok(cur) = c.iot().get_policy().policy_name(policy_name).send().await {
                let same = cur
                    .policy_document()
                    .and_then(|d| crate::policy::parse_document(d).ok())
                    .is_some_and(|d| crate::policy::same(&d, policy));
                if same {
                    return Ok(());
                }
            }
            // IoT keeps at most 5 versions: prune the oldest non-default one first.
            // (ListPolicyVersions is not paginated: one response holds every version.)
            let versions = c
                .iot()
                .list_policy_versions()
                .policy_name(policy_name)
                .send()
                .await
                .map_err(|e| c.err("iot:ListPolicyVersions", policy_name, e))?;
            let mut old: Vec<_> = versions
                .policy_versions()
                .iter()
                .filter(|v| !v.is_default_version())
                .collect();
            if versions.policy_versions().len() >= 5 {
                old.sort_by_key(|v| {
                    (
                        v.create_date().map(|d| d.as_nanos()).unwrap_or(0),
                        v.version_id()
                            .and_then(|i| i.parse::<u64>().ok())
                            .unwrap_or(0),
                    )
                });
                if let Some(oldest) = old.first().and_then(|v| v.version_id()) {
                    c.iot()
                        .delete_policy_version()
                        .policy_name(policy_name)
                        .policy_version_id(oldest)
                        .send()
                        .await
                        .map_err(|e| {
                            c.err(
                                "iot:DeletePolicyVersion",
                                &format!("{policy_name} version {oldest}"),
                                e,
                            )
                        })?;
                }
            }
            c.iot()
                .create_policy_version()
                .policy_name(policy_name)
                .policy_document(doc(policy))
                .set_as_default(true)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| c.err("iot:CreatePolicyVersion", policy_name, e))
        }
        Spec::IotPolicyAttachment {
            policy_name,
            target,
            ..
        } => attach(c, policy_name, target).await,
        Spec::LambdaPermission {
            function,
            statement_id,
            principal,
        } => {
            // A statement cannot be edited in place. So that the principal is never without a
            // working statement: add `-next`, remove the old statement, add it anew, remove `-next`.
            // Interrupted in between, the `-next` statement is read as a change the next plan
            // repairs.
            let next = crate::desired::permission_next_sid(statement_id);
            remove_permission(c, function, &next).await?;
            add_permission(c, function, &next, principal).await?;
            remove_permission(c, function, statement_id).await?;
            add_permission(c, function, statement_id, principal).await?;
            remove_permission(c, function, &next).await
        }
    }
}

/// Add the statement `sid` letting `principal` invoke `function` (retried while IAM propagates a
/// role created moments ago).
async fn add_permission(
    c: &Clients,
    function: &str,
    sid: &str,
    principal: &str,
) -> Result<(), AwsError> {
    retry_consistency(|| async {
        c.lambda()
            .add_permission()
            .function_name(function)
            .statement_id(sid)
            .action("lambda:InvokeFunction")
            .principal(principal)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| c.err("lambda:AddPermission", &format!("{function}/{sid}"), e))
    })
    .await
}

/// Delete the resource `s` describes (absent already is done).
pub async fn delete(c: &Clients, s: &Spec) -> Result<(), AwsError> {
    let _slot = c.slot().await?;
    let gone = |e: AwsError| if e.not_found() { Ok(()) } else { Err(e) };
    match s {
        Spec::IamRole { role_name, .. } => {
            // inline policies and managed attachments must go first
            let inline: Result<Vec<String>, _> = c
                .iam()
                .list_role_policies()
                .role_name(role_name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await;
            let inline = match inline {
                Ok(names) => names,
                Err(e) => return gone(c.err("iam:ListRolePolicies", role_name, e)),
            };
            for p in inline {
                if let Err(e) = c
                    .iam()
                    .delete_role_policy()
                    .role_name(role_name)
                    .policy_name(&p)
                    .send()
                    .await
                {
                    gone(c.err("iam:DeleteRolePolicy", &format!("{role_name}/{p}"), e))?;
                }
            }
            let attached = c
                .iam()
                .list_attached_role_policies()
                .role_name(role_name)
                .into_paginator()
                .items()
                .send()
                .try_collect()
                .await
                .map_err(|e| c.err("iam:ListAttachedRolePolicies", role_name, e))?;
            for p in &attached {
                if let Some(arn) = p.policy_arn() {
                    c.iam()
                        .detach_role_policy()
                        .role_name(role_name)
                        .policy_arn(arn)
                        .send()
                        .await
                        .map_err(|e| c.err("iam:DetachRolePolicy", role_name, e))?;
                }
            }
            match c.iam().delete_role().role_name(role_name).send().await {
                Ok(_) => Ok(()),
                Err(e) => gone(c.err("iam:DeleteRole", role_name, e)),
            }
        }
        Spec::IamRolePolicy {
            role_name,
            policy_name,
            ..
        }
        | Spec::SourceRolePolicy {
            role_name,
            policy_name,
            ..
        } => {
            match c
                .iam()
                .delete_role_policy()
                .role_name(role_name)
                .policy_name(policy_name)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => gone(c.err(
                    "iam:DeleteRolePolicy",
                    &format!("{role_name}/{policy_name}"),
                    e,
                )),
            }
        }
        Spec::IotRoleAlias { role_alias, .. } => match c
            .iot()
            .delete_role_alias()
            .role_alias(role_alias)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => gone(c.err("iot:DeleteRoleAlias", role_alias, e)),
        },
        Spec::IotPolicy { policy_name, .. } => {
            let versions = match c
                .iot()
                .list_policy_versions()
                .policy_name(policy_name)
                .send()
                .await
            {
                Ok(v) => v,
                Err(e) => return gone(c.err("iot:ListPolicyVersions", policy_name, e)),
            };
            for v in versions
                .policy_versions()
                .iter()
                .filter(|v| !v.is_default_version())
            {
                if let Some(id) = v.version_id() {
                    if let Err(e) = c
                        .iot()
                        .delete_policy_version()
                        .policy_name(policy_name)
                        .policy_version_id(id)
                        .send()
                        .await
                    {
                        gone(c.err(
                            "iot:DeletePolicyVersion",
                            &format!("{policy_name} version {id}"),
                            e,
                        ))?;
                    }
                }
            }
            match c
                .iot()
                .delete_policy()
                .policy_name(policy_name)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => gone(c.err("iot:DeletePolicy", policy_name, e)),
            }
        }
        Spec::IotPolicyAttachment {
            policy_name,
            target,
            ..
        } => {
            match c
                .iot()
                .detach_policy()
                .policy_name(policy_name)
                .target(target)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) => gone(c.err("iot:DetachPolicy", &format!("{policy_name} → {target}"), e)),
            }
        }
        Spec::LambdaPermission {
            function,
            statement_id,
            ..
        } => {
            drop(_slot);
            remove_permission(c, function, statement_id).await?;
            let next = crate::desired::permission_next_sid(statement_id);
            remove_permission(c, function, &next).await
        }
    }
}
