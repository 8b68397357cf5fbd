//! The proof's facts of the desired state (`check --desired`): what the chain will be after apply.

use super::{json, CertFacts, Config, Facts, FunctionFacts, Origin, RoleFacts};
use crate::chain::Device;
use crate::model::{
    IamRole, IamRolePolicy, IotPolicy, LambdaPermission, Managed, Resource, SourceRolePolicy,
};

/// The facts of the desired state: what the chain will be after apply.
pub fn desired_facts(cfg: &Config) -> Facts {
    let all = crate::desired::desired(cfg);
    let mut f = Facts::default();
    let role = |name: &str, account: &str| -> Option<RoleFacts> {
        let here = |r: &&Resource| r.addr.account == account;
        let spec = all
            .iter()
            .filter(here)
            .filter_map(|r| IamRole::of(&r.spec))
            .find(|x| x.role_name == name)
            .map(|x| (x.assume_role_policy.clone(), x.max_session_duration))?;
        let policies = all
            .iter()
            .filter(here)
            .filter_map(|r| IamRolePolicy::of(&r.spec))
            .filter(|x| x.role_name == name)
            .map(|x| (x.policy_name.clone(), x.policy.clone()))
            .collect();
        Some(RoleFacts {
            arn: format!("arn:{}:iam::{account}:role/{name}", cfg.partition),
            trust: spec.0,
            max_session: spec.1,
            policies,
            boundary: None,
            org_id: None,
            org_path: None,
            scps: vec![],
            rcps: vec![],
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
                .filter_map(|r| SourceRolePolicy::of(&r.spec))
                .map(|x| (x.policy_name.clone(), x.policy.clone()))
                .collect(),
            boundary: None,
            org_id: None,
            org_path: None,
            scps: vec![],
            rcps: vec![],
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
        if let Some(LambdaPermission {
            function,
            statement_id,
            principal,
        }) = LambdaPermission::of(&r.spec)
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
    // the IoT facts of each device layout (none for a `source:` file)
    let iot_facts = |dev: &Device| {
        let iot = &dev.iot;
        let iot_policy = all
            .iter()
            .filter_map(|r| IotPolicy::of(&r.spec))
            .find(|x| x.policy_name == iot.policy_name)
            .map(|x| (x.policy_name.clone(), x.policy.clone()));
        let ids: Vec<String> = match dev.thing_group() {
            Some(g) => vec![format!("thinggroup/{g}")],
            None if iot.certificates.is_empty() => vec![String::new()],
            None => iot.certificates.clone(),
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
            alias: Some((dev.role_arn.clone(), iot.credential_duration)),
            iot_role: role(&iot.role_name, &iot.account),
        }
    };
    for dev in crate::chain::layouts(cfg) {
        let facts = iot_facts(&dev);
        match &dev.gate {
            Some((env, _)) => {
                f.per_env.insert(env.clone(), facts);
            }
            None => {
                f.certs = facts.certs;
                f.alias = facts.alias;
                f.origin_role = facts.iot_role;
            }
        }
    }
    f
}
