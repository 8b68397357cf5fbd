//! Config → the resources that must exist, least privilege: pure, no network.

use crate::chain::{self, Device};
use crate::config::{Config, IotAccount, Origin, SourceArnCondition, ENV_TAG, OWNER_TAG};
use crate::model::live::Discovered;
use crate::model::{
    Addr, IamRole, IamRolePolicy, IotPolicy, IotPolicyAttachment, IotRoleAlias, Kind,
    LambdaPermission, Resource, SourceRolePolicy, Spec,
};
use crate::policy::{render, render_nonempty, Var};
use std::collections::BTreeMap;

/// Name of the inline policy on the IoT role.
pub const IOT_ROLE_POLICY: &str = "xacct-assume-targets";
/// Name of the inline policy on each target role. It grants calls of every target type (functions,
/// API methods, objects), but keeps the name it had when functions were the only targets: renaming
/// it would make every applied environment's next plan delete and recreate it.
pub const TARGET_ROLE_POLICY: &str = "xacct-invoke-functions";

/// The tags of a role xacct creates: its fleet, and the environment it belongs to (a target role,
/// a gated environment's IoT role); the fleet's shared IoT role belongs to no one environment.
pub fn owner_tags(cfg: &Config, env: Option<&str>) -> BTreeMap<String, String> {
    let mut t = BTreeMap::from([(OWNER_TAG.to_string(), cfg.fleet.clone())]);
    if let Some(e) = env {
        t.insert(ENV_TAG.to_string(), e.to_string());
    }
    t
}

/// The variables every template may use, for the device layout `dev` (the shared one, or a gated
/// environment's: then its IoT role reaches that environment only).
fn vars(cfg: &Config, dev: Option<&Device>) -> BTreeMap<&'static str, Var> {
    let mut v = BTreeMap::new();
    if let Some(dev) = dev {
        let iot = &dev.iot;
        v.insert("iot_account", Var::One(iot.account.clone()));
        v.insert("alias_arn", Var::One(dev.alias_arn.clone()));
        v.insert(
            "any_alias_arn",
            Var::One(format!(
                "arn:{}:iot:{}:{}:rolealias/*",
                cfg.partition, cfg.region, iot.account
            )),
        );
        v.insert("iot_role_arn", Var::One(dev.role_arn.clone()));
    }
    let served = |t: &&crate::config::Target| dev.is_none_or(|d| d.serves(t));
    if let Some(src) = cfg.source_role() {
        v.insert("source_role_arn", Var::One(src.arn.clone()));
    }
    v.insert("region", Var::One(cfg.region.clone()));
    v.insert("fleet", Var::One(cfg.fleet.clone()));
    v.insert(
        "target_role_arns",
        Var::List(
            cfg.environments
                .iter()
                .filter(served)
                .filter(|t| !t.direct())
                .map(|t| cfg.target_role_arn(t))
                .collect(),
        ),
    );
    v.insert(
        "direct_function_arns",
        Var::List(
            cfg.environments
                .iter()
                .filter(served)
                .filter(|t| t.direct())
                .flat_map(|t| {
                    t.functions
                        .iter()
                        .flat_map(|f| [f.clone(), format!("{f}:*")])
                })
                .collect(),
        ),
    );
    v
}

/// The statement id of xacct's statement in a function's resource policy (direct mode).
pub fn permission_sid(cfg: &Config) -> String {
    format!("xacct-{}", cfg.fleet)
}

/// The name of xacct's inline policy on a source role it does not own: in xacct's namespace and
/// per fleet, so fleets that share a source role do not overwrite each other.
pub fn source_policy_name(cfg: &Config) -> String {
    format!("xacct-{}-assume-targets", cfg.fleet)
}

/// The resources of the account the chain starts in: the IoT role, alias and policy, or xacct's one
/// inline policy on the source role.
fn origin_resources_with(cfg: &Config, vars: &BTreeMap<&'static str, Var>) -> Vec<Resource> {
    match &cfg.origin {
        Origin::Iot(_) if cfg.gated() => chain::layouts(cfg)
            .iter()
            .flat_map(|dev| iot_resources_with(cfg, dev, &self::vars(cfg, Some(dev))))
            .collect(),
        Origin::Iot(_) => chain::layouts(cfg)
            .iter()
            .flat_map(|dev| iot_resources_with(cfg, dev, vars))
            .collect(),
        Origin::Role(src) => {
            let policy_name = source_policy_name(cfg);
            vec![Resource {
                addr: Addr {
                    account: src.account.clone(),
                    env: None,
                    kind: Kind::SourceRolePolicy,
                    name: format!("{}/{}", src.role_name, policy_name),
                },
                spec: Spec::SourceRolePolicy(SourceRolePolicy {
                    role_name: src.role_name.clone(),
                    policy_name,
                    policy: render("source-role-permissions", vars),
                }),
            }]
        }
    }
}

/// The resources of the account the chain starts in (IoT account or source role).
pub fn origin_resources(cfg: &Config) -> Vec<Resource> {
    origin_resources_with(cfg, &shared_vars(cfg))
}

/// The variables of the fleet's shared layout (or of a `source:` file).
fn shared_vars(cfg: &Config) -> BTreeMap<&'static str, Var> {
    vars(cfg, Device::of(cfg, None).as_ref())
}

/// The IoT role, its policy, the alias, the IoT policy and its attachments of one layout: the
/// fleet's shared one, or (gated) one environment's.
fn iot_resources_with(
    cfg: &Config,
    dev: &Device,
    vars: &BTreeMap<&'static str, Var>,
) -> Vec<Resource> {
    let iot = &dev.iot;
    let gate = dev.gate.as_ref();
    let acct = &iot.account;
    let at = |kind, name: String| Addr {
        account: acct.clone(),
        env: None,
        kind,
        name,
    };
    let mut out = vec![
        Resource {
            addr: at(Kind::IamRole, iot.role_name.clone()),
            spec: Spec::IamRole(IamRole {
                role_name: iot.role_name.clone(),
                path: "/".into(),
                assume_role_policy: render(
                    match iot.source_arn_condition {
                        SourceArnCondition::Alias => "iot-role-trust",
                        SourceArnCondition::Account => "iot-role-trust-account",
                        SourceArnCondition::None => "iot-role-trust-none",
                    },
                    vars,
                ),
                max_session_duration: cfg.iot_max_session(),
                tags: owner_tags(cfg, gate.map(|(e, _)| e.as_str())),
            }),
        },
        Resource {
            addr: at(
                Kind::IamRolePolicy,
                format!("{}/{}", iot.role_name, IOT_ROLE_POLICY),
            ),
            spec: Spec::IamRolePolicy(IamRolePolicy {
                role_name: iot.role_name.clone(),
                policy_name: IOT_ROLE_POLICY.into(),
                policy: iot_role_permissions(vars, gate.and_then(|(_, d)| d.as_ref())),
            }),
        },
        Resource {
            addr: at(Kind::IotRoleAlias, iot.role_alias.clone()),
            spec: Spec::IotRoleAlias(IotRoleAlias {
                role_alias: iot.role_alias.clone(),
                role_arn: dev.role_arn.clone(),
                credential_duration: iot.credential_duration,
            }),
        },
        Resource {
            addr: at(Kind::IotPolicy, iot.policy_name.clone()),
            spec: Spec::IotPolicy(IotPolicy {
                policy_name: iot.policy_name.clone(),
                policy: render("iot-policy", vars),
            }),
        },
    ];
    match dev.thing_group() {
        Some(g) => out.push(group_attachment(cfg, &iot.policy_name, g)),
        None => {
            for cert in &iot.certificates {
                out.push(attachment(cfg, iot, cert));
            }
        }
    }
    out
}

/// The IoT-account resources of the layout the file does not use (with gating: the fleet's shared
/// role, alias and policy; without: each environment's own), so that a plan reads them and deletes
/// what is left of a move from one layout to the other. Only their addresses and names matter; they
/// come in groups of four (role, its policy, alias, IoT policy).
pub fn other_layout(cfg: &Config, mine: &[Resource]) -> Vec<Resource> {
    let Some(iot) = cfg.iot() else {
        return vec![];
    };
    let names: Vec<(String, String, String)> = if cfg.gated() {
        vec![(
            iot.role_name.clone(),
            iot.role_alias.clone(),
            iot.policy_name.clone(),
        )]
    } else {
        cfg.environments
            .iter()
            .map(|t| {
                (
                    format!("{}-{}-device", cfg.fleet, t.name),
                    format!("{}-{}", cfg.fleet, t.name),
                    format!("{}-{}-credentials", cfg.fleet, t.name),
                )
            })
            .collect()
    };
    let at = |kind, name: String| Addr {
        account: iot.account.clone(),
        env: None,
        kind,
        name,
    };
    let mut groups = Vec::new();
    for (role, alias, policy) in names {
        let mut out = Vec::new();
        out.push(Resource {
            addr: at(Kind::IamRole, role.clone()),
            spec: Spec::IamRole(IamRole {
                role_name: role.clone(),
                path: "/".into(),
                assume_role_policy: serde_json::Value::Null,
                max_session_duration: 3600,
                tags: BTreeMap::new(),
            }),
        });
        out.push(Resource {
            addr: at(Kind::IamRolePolicy, format!("{role}/{IOT_ROLE_POLICY}")),
            spec: Spec::IamRolePolicy(IamRolePolicy {
                role_name: role,
                policy_name: IOT_ROLE_POLICY.into(),
                policy: serde_json::Value::Null,
            }),
        });
        out.push(Resource {
            addr: at(Kind::IotRoleAlias, alias.clone()),
            spec: Spec::IotRoleAlias(IotRoleAlias {
                role_alias: alias,
                role_arn: String::new(),
                credential_duration: 3600,
            }),
        });
        out.push(Resource {
            addr: at(Kind::IotPolicy, policy.clone()),
            spec: Spec::IotPolicy(IotPolicy {
                policy_name: policy,
                policy: serde_json::Value::Null,
            }),
        });
        groups.push(out);
    }
    // a group that shares a name with the file's own layout (`mine`) is not the other layout's
    groups
        .into_iter()
        .filter(|g| !g.iter().any(|r| mine.iter().any(|m| m.addr == r.addr)))
        .flatten()
        .collect()
}

/// The IoT role's permissions: `sts:AssumeRole` on the target roles, `lambda:InvokeFunction` on the
/// functions of direct environments; for an environment gated on a thing type, only for sessions of
/// devices of that type (`credentials-iot:ThingTypeName`, set when the device sends its thing name).
fn iot_role_permissions(
    vars: &BTreeMap<&'static str, Var>,
    gate: Option<&crate::config::Devices>,
) -> serde_json::Value {
    let mut doc = render_nonempty("iot-role-permissions", vars);
    if let Some(crate::config::Devices::ThingType(ty)) = gate {
        if let Some(serde_json::Value::Array(st)) = doc.get_mut("Statement") {
            for s in st {
                s["Condition"] = serde_json::json!({
                    "StringEquals": { "credentials-iot:ThingTypeName": ty }
                });
            }
        }
    }
    doc
}

pub fn attachment(cfg: &Config, iot: &IotAccount, cert: &str) -> Resource {
    Resource {
        addr: Addr {
            account: iot.account.clone(),
            env: None,
            kind: Kind::IotPolicyAttachment,
            name: format!("{}/{}", iot.policy_name, cert),
        },
        spec: Spec::IotPolicyAttachment(IotPolicyAttachment {
            policy_name: iot.policy_name.clone(),
            certificate_id: cert.to_string(),
            target: cfg.certificate_arn(cert),
        }),
    }
}

/// The attachment of an IoT policy to a thing group (its things and its child groups' things).
/// Its target id is `thinggroup/NAME`.
pub fn group_attachment(cfg: &Config, policy_name: &str, group: &str) -> Resource {
    let id = format!("thinggroup/{group}");
    Resource {
        addr: Addr {
            account: cfg.origin_account().to_string(),
            env: None,
            kind: Kind::IotPolicyAttachment,
            name: format!("{policy_name}/{id}"),
        },
        spec: Spec::IotPolicyAttachment(IotPolicyAttachment {
            policy_name: policy_name.to_string(),
            target: format!(
                "arn:{}:iot:{}:{}:{id}",
                cfg.partition,
                cfg.region,
                cfg.origin_account()
            ),
            certificate_id: id,
        }),
    }
}

/// The resources of one target environment.
pub fn target_resources(
    cfg: &Config,
    t: &crate::config::Target,
    found: &Discovered,
) -> Vec<Resource> {
    target_resources_with(cfg, t, &shared_vars(cfg), found)
}

fn target_resources_with(
    cfg: &Config,
    t: &crate::config::Target,
    base: &BTreeMap<&'static str, Var>,
    found: &Discovered,
) -> Vec<Resource> {
    if t.direct() {
        // no target role: one statement of xacct's in each function's resource policy
        let sid = permission_sid(cfg);
        return t
            .functions
            .iter()
            .map(|f| Resource {
                addr: Addr {
                    account: t.account.clone(),
                    env: Some(t.name.clone()),
                    kind: Kind::LambdaPermission,
                    name: format!("{}/{sid}", f.rsplit(':').next().unwrap_or(f)),
                },
                spec: Spec::LambdaPermission(LambdaPermission {
                    function: f.clone(),
                    statement_id: sid.clone(),
                    principal: cfg.iot_role_arn_for(t),
                }),
            })
            .collect();
    }
    let mut vars = crate::policy::Layered {
        own: BTreeMap::new(),
        shared: base,
    };
    if cfg.iot().is_some() {
        vars.own
            .insert("iot_role_arn", Var::One(cfg.iot_role_arn_for(t)));
    }
    for ty in crate::targets::TYPES {
        ty.vars(t, found, &mut vars.own);
    }
    let at = |kind, name: String| Addr {
        account: t.account.clone(),
        env: Some(t.name.clone()),
        kind,
        name,
    };
    vec![
        Resource {
            addr: at(Kind::IamRole, t.role_name.clone()),
            spec: Spec::IamRole(IamRole {
                role_name: t.role_name.clone(),
                path: "/".into(),
                assume_role_policy: render(
                    match cfg.origin {
                        Origin::Iot(_) => "target-role-trust",
                        Origin::Role(_) => "target-role-trust-source",
                    },
                    &vars,
                ),
                max_session_duration: crate::config::ROLE_CHAINING_CAP,
                tags: owner_tags(cfg, Some(&t.name)),
            }),
        },
        Resource {
            addr: at(
                Kind::IamRolePolicy,
                format!("{}/{}", t.role_name, TARGET_ROLE_POLICY),
            ),
            spec: Spec::IamRolePolicy(IamRolePolicy {
                role_name: t.role_name.clone(),
                policy_name: TARGET_ROLE_POLICY.into(),
                policy: render_nonempty("target-role-permissions", &vars),
            }),
        },
    ]
}

/// Every desired resource, the origin account first, in creation order, for what the file alone
/// determines (no customer KMS keys known).
pub fn desired(cfg: &Config) -> Vec<Resource> {
    desired_with(cfg, &Discovered::default())
}

/// Every desired resource, given what was discovered in the accounts (the customer KMS keys of the
/// listed buckets, which the target roles must be able to decrypt with).
pub fn desired_with(cfg: &Config, found: &Discovered) -> Vec<Resource> {
    // the variables are the same for every environment: build them once
    let vars = shared_vars(cfg);
    let mut out = origin_resources_with(cfg, &vars);
    for t in &cfg.environments {
        out.extend(target_resources_with(cfg, t, &vars, found));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Managed;
    use std::path::Path;

    fn cfg() -> Config {
        crate::config::parse(
            Path::new("t.yaml"),
            "fleet: f\nregion: eu-west-1\niot: {account: \"111111111111\", certificates: [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}\nenvironments:\n  a: {account: \"222222222222\", functions: [x]}\n  b: {account: \"333333333333\", functions: [y, z]}\n",
        )
        .unwrap()
    }

    #[test]
    fn least_privilege_documents() {
        let c = cfg();
        let all = desired(&c);
        assert_eq!(all.len(), 5 + 4);
        let text = serde_json::to_string(&all).unwrap();
        assert!(!text.contains("\"*\""), "no bare * anywhere: {text}");
        assert!(!text.contains(":root"));
        // the IoT role may assume exactly the two target roles
        let Spec::IamRolePolicy(IamRolePolicy { policy, .. }) = &all[1].spec else {
            panic!()
        };
        assert_eq!(
            policy["Statement"][0]["Resource"],
            serde_json::json!([
                "arn:aws:iam::222222222222:role/f-a",
                "arn:aws:iam::333333333333:role/f-b"
            ])
        );
        // target trust names the exact IoT role
        let Spec::IamRole(IamRole {
            assume_role_policy, ..
        }) = &all[5].spec
        else {
            panic!()
        };
        assert_eq!(
            assume_role_policy["Statement"][0]["Principal"]["AWS"],
            "arn:aws:iam::111111111111:role/f-device"
        );
        let Spec::IamRolePolicy(IamRolePolicy { policy, .. }) = &all[8].spec else {
            panic!()
        };
        assert_eq!(
            policy["Statement"][0]["Resource"],
            serde_json::json!([
                "arn:aws:lambda:eu-west-1:333333333333:function:y",
                "arn:aws:lambda:eu-west-1:333333333333:function:y:*",
                "arn:aws:lambda:eu-west-1:333333333333:function:z",
                "arn:aws:lambda:eu-west-1:333333333333:function:z:*"
            ])
        );
        // the IoT role's trust carries the confused-deputy guard
        let Spec::IamRole(IamRole {
            assume_role_policy, ..
        }) = &all[0].spec
        else {
            panic!()
        };
        let cond = &assume_role_policy["Statement"][0]["Condition"];
        assert_eq!(cond["StringEquals"]["aws:SourceAccount"], "111111111111");
        assert_eq!(
            cond["ArnEquals"]["aws:SourceArn"],
            "arn:aws:iot:eu-west-1:111111111111:rolealias/f-device"
        );
    }

    #[test]
    fn the_source_arn_condition_is_a_choice() {
        let trust = |setting: &str| {
            let c = crate::config::parse(
                Path::new("t.yaml"),
                &format!("fleet: f\nregion: eu-west-1\niot: {{account: \"111111111111\", source_arn_condition: {setting}}}\nenvironments:\n  a: {{account: \"222222222222\", functions: [x]}}\n"),
            )
            .unwrap();
            let Spec::IamRole(IamRole {
                assume_role_policy, ..
            }) = &desired(&c)[0].spec
            else {
                panic!()
            };
            assume_role_policy["Statement"][0]["Condition"].clone()
        };
        let alias = trust("alias");
        assert_eq!(
            alias["ArnEquals"]["aws:SourceArn"],
            "arn:aws:iot:eu-west-1:111111111111:rolealias/f-device"
        );
        let account = trust("account");
        assert_eq!(
            account["ArnLike"]["aws:SourceArn"],
            "arn:aws:iot:eu-west-1:111111111111:rolealias/*"
        );
        assert!(account.get("ArnEquals").is_none());
        let none = trust("none");
        assert!(none.get("ArnEquals").is_none() && none.get("ArnLike").is_none());
        // the account guard stays in every case
        for c in [alias, account, none] {
            assert_eq!(c["StringEquals"]["aws:SourceAccount"], "111111111111");
        }
        // and every variant still lets the credentials provider assume the role for the alias
        for setting in ["alias", "account", "none"] {
            let c = crate::config::parse(
                Path::new("t.yaml"),
                &format!("fleet: f\nregion: eu-west-1\niot: {{account: \"111111111111\", source_arn_condition: {setting}}}\nenvironments:\n  a: {{account: \"222222222222\", functions: [x]}}\n"),
            )
            .unwrap();
            let proof = crate::check::prove(&c, &crate::check::desired_facts(&c), &[]);
            assert!(proof.iter().all(|r| r.ok), "{setting}: {proof:?}");
        }
    }

    const SOURCE: &str = "fleet: r\nregion: eu-west-1\nsource:\n  account: \"111111111111\"\n  role: arn:aws:iam::111111111111:role/service-role/fn\nenvironments:\n  api:\n    account: \"222222222222\"\n    apis: [a1b2c3d4e5/prod/GET/orders/*]\n  logs:\n    account: \"333333333333\"\n    objects: [\"logs-bucket/AWSLogs/*\", logs-bucket/x.json]\n    functions: [f]\n";

    #[test]
    fn a_source_chain_gets_one_inline_policy_and_one_statement_per_target_kind() {
        let c = crate::config::parse(Path::new("s.yaml"), SOURCE).unwrap();
        let mut found = Discovered::default();
        found.bucket_keys.insert(
            "logs".into(),
            BTreeMap::from([(
                "logs-bucket".to_string(),
                "arn:aws:kms:eu-west-1:333333333333:key/k1".to_string(),
            )]),
        );
        let all = desired_with(&c, &found);
        // no IoT resources; the source role gets exactly one policy, and is never created
        assert_eq!(all.len(), 1 + 2 * 2);
        assert!(all.iter().all(|r| !matches!(
            r.addr.kind,
            Kind::IotRoleAlias | Kind::IotPolicy | Kind::IotPolicyAttachment
        )));
        assert!(!all
            .iter()
            .any(|r| r.addr.kind == Kind::IamRole && r.addr.name == "fn"));
        let Spec::SourceRolePolicy(SourceRolePolicy {
            role_name,
            policy_name,
            policy,
        }) = &all[0].spec
        else {
            panic!("{:?}", all[0])
        };
        assert_eq!(
            (role_name.as_str(), policy_name.as_str()),
            ("fn", "xacct-r-assume-targets")
        );
        assert_eq!(
            policy["Statement"][0]["Resource"],
            serde_json::json!([
                "arn:aws:iam::222222222222:role/r-api",
                "arn:aws:iam::333333333333:role/r-logs"
            ])
        );
        // target trust: exactly the source role's ARN, path included
        let Spec::IamRole(IamRole {
            assume_role_policy, ..
        }) = &all[1].spec
        else {
            panic!()
        };
        assert_eq!(
            assume_role_policy["Statement"][0]["Principal"]["AWS"],
            "arn:aws:iam::111111111111:role/service-role/fn"
        );
        // the API environment: only execute-api:Invoke
        let Spec::IamRolePolicy(IamRolePolicy { policy, .. }) = &all[2].spec else {
            panic!()
        };
        let st = policy["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 1);
        assert_eq!(st[0]["Action"], "execute-api:Invoke");
        assert_eq!(
            st[0]["Resource"],
            "arn:aws:execute-api:eu-west-1:222222222222:a1b2c3d4e5/prod/GET/orders/*"
        );
        // the logs environment: functions, objects and the bucket's key
        let Spec::IamRolePolicy(IamRolePolicy { policy, .. }) = &all[4].spec else {
            panic!()
        };
        let sids: Vec<&str> = policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap())
            .collect();
        assert_eq!(sids, ["InvokeFunctions", "GetObjects", "DecryptObjects"]);
        assert_eq!(
            policy["Statement"][2]["Resource"],
            "arn:aws:kms:eu-west-1:333333333333:key/k1"
        );
        let text = serde_json::to_string(&all).unwrap();
        assert!(!text.contains("\"*\"") && !text.contains(":root") && !text.contains("s3:*"));
        // and the desired state proves every hop
        let proof = crate::check::prove(&c, &crate::check::desired_facts(&c), &[]);
        assert!(proof.iter().all(|r| r.ok), "{proof:#?}");
        let hops: Vec<&str> = proof[1].hops.iter().map(|h| h.hop.title()).collect();
        assert_eq!(hops, ["source", "assume-role", "invoke", "get-object"]);
        let parts: Vec<&str> = proof[1].hops[1]
            .parts
            .iter()
            .map(|p| p.part.title())
            .collect();
        assert_eq!(parts, ["source-policy", "target-trust"]);
        // the proof's hops are the chain's, environment by environment
        for (r, t) in proof.iter().zip(&c.environments) {
            let proven: Vec<_> = r.hops.iter().map(|h| h.hop).collect();
            assert_eq!(proven, crate::chain::hops(&c, t), "{}", t.name);
        }
    }

    #[test]
    fn gating_gives_each_environment_its_own_iot_layout_and_direct_mode_no_target_role() {
        let c = crate::config::parse(
            Path::new("g.yaml"),
            "fleet: f\nregion: eu-west-1\niot: {account: \"111111111111\", certificates: [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}\nenvironments:\n  prd: {account: \"222222222222\", functions: [x], devices: {thing_group: gws}}\n  stg: {account: \"333333333333\", functions: [y], mode: direct}\n  qa: {account: \"444444444444\", functions: [z], devices: {thing_type: Gw}}\n",
        )
        .unwrap();
        let all = desired(&c);
        let names = |k: Kind| -> Vec<String> {
            all.iter()
                .filter(|r| r.addr.kind == k)
                .map(|r| r.addr.name.clone())
                .collect()
        };
        assert_eq!(names(Kind::IotRoleAlias), ["f-prd", "f-stg", "f-qa"]);
        assert_eq!(
            names(Kind::IotPolicyAttachment),
            [
                "f-prd-credentials/thinggroup/gws".to_string(),
                format!("f-stg-credentials/{}", "a".repeat(64)),
                format!("f-qa-credentials/{}", "a".repeat(64)),
            ]
        );
        assert_eq!(names(Kind::LambdaPermission), ["y/xacct-f"]);
        // no target role for the direct environment
        assert!(!names(Kind::IamRole).contains(&"f-stg".to_string()));
        let doc = |role: &str| {
            all.iter()
                .filter_map(|r| IamRolePolicy::of(&r.spec))
                .find(|p| p.role_name == role)
                .map(|p| p.policy.clone())
                .unwrap()
        };
        // each IoT role reaches its own environment only
        assert_eq!(
            doc("f-prd-device")["Statement"][0]["Resource"],
            "arn:aws:iam::222222222222:role/f-prd"
        );
        let stg = doc("f-stg-device");
        assert_eq!(stg["Statement"][0]["Action"], "lambda:InvokeFunction");
        assert_eq!(stg["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(
            doc("f-qa-device")["Statement"][0]["Condition"]["StringEquals"]
                ["credentials-iot:ThingTypeName"],
            "Gw"
        );
        // the direct statement names the exact IoT role of its environment
        let Some(Spec::LambdaPermission(LambdaPermission { principal, .. })) = all
            .iter()
            .find(|r| r.addr.kind == Kind::LambdaPermission)
            .map(|r| &r.spec)
        else {
            panic!()
        };
        assert_eq!(principal, "arn:aws:iam::111111111111:role/f-stg-device");
        // and the desired state proves every hop, per environment
        let proof = crate::check::prove(&c, &crate::check::desired_facts(&c), &[]);
        assert!(proof.iter().all(|r| r.ok), "{proof:#?}");
        assert_eq!(proof[0].devices.as_deref(), Some("thing group gws"));
        for (r, t) in proof.iter().zip(&c.environments) {
            let proven: Vec<_> = r.hops.iter().map(|h| h.hop).collect();
            assert_eq!(proven, crate::chain::hops(&c, t), "{}", t.name);
        }
        assert_eq!(
            crate::chain::hops(&c, &c.environments[1]),
            [crate::chain::Hop::Credentials, crate::chain::Hop::Invoke]
        );
        // the shared layout is what a plan reads to delete
        let other = other_layout(&c, &all);
        assert!(other
            .iter()
            .any(|r| r.addr.kind == Kind::IotRoleAlias && r.addr.name == "f-device"));
    }
}
