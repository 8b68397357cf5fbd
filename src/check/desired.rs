//! The proof's facts of the desired state (`check --desired`): what the chain will be after apply.

use super::{json, CertFacts, Config, Facts, FunctionFacts, Origin, RoleFacts, Spec, Target};

/// The facts of the desired state: what the chain will be after apply.
pub fn desired_facts(cfg: &Config) -> Facts {
    let all = crate::desired::desired(cfg);
    let mut f = Facts::default();
    let role = |name: &str, account: &str| -> Option<RoleFacts> {
        let spec = all.iter().find_map(|r| match &r.spec {
            Spec::IamRole {
                role_name,
                assume_role_policy,
                max_session_duration,
                ..
            } if role_name == name && r.addr.account == account => {
                Some((assume_role_policy.clone(), *max_session_duration))
            }
            _ => None,
        })?;
        let policies = all
            .iter()
            .filter_map(|r| match &r.spec {
                Spec::IamRolePolicy {
                    role_name,
                    policy_name,
                    policy,
                } if role_name == name && r.addr.account == account => {
                    Some((policy_name.clone(), policy.clone()))
                }
                _ => None,
            })
            .collect();
        Some(RoleFacts {
            arn: format!("arn:{}:iam::{account}:role/{name}", cfg.partition),
            trust: spec.0,
            max_session: spec.1,
            policies,
            boundary: None,
        })
    };
    f.origin_role = match &cfg.origin {
        Origin::Iot(iot) => role(&iot.role_name, &iot.account),
        Origin::Role(src) => Some(RoleFacts {
            arn: src.arn.clone(),
            trust: json!({"Version":"2012-10-17","Statement":[]}),
            max_session: 3600,
            policies: all
                .iter()
                .filter_map(|r| match &r.spec {
                    Spec::SourceRolePolicy {
                        policy_name,
                        policy,
                        ..
                    } => Some((policy_name.clone(), policy.clone())),
                    _ => None,
                })
                .collect(),
            boundary: None,
        }),
    };
    for t in &cfg.environments {
        f.targets
            .insert(t.name.clone(), role(&t.role_name, &t.account));
        for func in &t.functions {
            f.functions.insert(
                func.clone(),
                FunctionFacts {
                    exists: None,
                    policy: None,
                },
            );
        }
    }
    // direct mode: each function's policy holds xacct's statement
    for r in &all {
        if let Spec::LambdaPermission {
            function,
            statement_id,
            principal,
        } = &r.spec
        {
            f.functions.insert(
                function.clone(),
                FunctionFacts {
                    exists: None,
                    policy: Some(json!({"Version":"2012-10-17","Statement":[{"Sid":statement_id,
                        "Effect":"Allow","Principal":{"AWS":principal},"Action":"lambda:InvokeFunction",
                        "Resource":function}]})),
                },
            );
        }
    }
    if cfg.iot().is_none() {
        return f;
    }
    // the IoT facts of a layout (`view` names its role, alias and policy)
    let iot_facts = |view: &Config, gate: Option<&Target>| {
        let iot = view.iot().expect("an iot file");
        let iot_policy = all.iter().find_map(|r| match &r.spec {
            Spec::IotPolicy {
                policy_name,
                policy,
            } if *policy_name == iot.policy_name => Some((policy_name.clone(), policy.clone())),
            _ => None,
        });
        let ids: Vec<String> = match gate.and_then(|t| t.devices.as_ref()) {
            Some(crate::config::Devices::ThingGroup(g)) => vec![format!("thinggroup/{g}")],
            _ if iot.certificates.is_empty() => vec![String::new()],
            _ => iot.certificates.clone(),
        };
        crate::model::live::IotFacts {
            certs: ids
                .into_iter()
                .map(|id| CertFacts {
                    id,
                    status: None,
                    exists: true,
                    policies: iot_policy.clone().into_iter().collect(),
                })
                .collect(),
            alias: Some((view.origin_role_arn(), iot.credential_duration)),
            iot_role: role(&iot.role_name, &iot.account),
        }
    };
    if cfg.gated() {
        for t in &cfg.environments {
            let view = cfg.device_view(t);
            f.per_env.insert(t.name.clone(), iot_facts(&view, Some(t)));
        }
    } else {
        let top = iot_facts(cfg, None);
        f.certs = top.certs;
        f.alias = top.alias;
        f.origin_role = top.iot_role;
    }
    f
}
