//! The chain of one environment as a value, compiled once from the validated file: where it starts
//! (`Start`: a device's certificate through one IoT layout, or a workload's source role) and the
//! hops it makes, in order (`hop`: their names, shared by `check` and `verify`). `desired` writes
//! what a start needs, `check` proves it, `verify` performs it; none of them clones or rewrites the
//! file to get an environment's view of it.

pub mod hop;
pub mod request;

pub use hop::{Hop, Part, FORMAT_VERSION};
pub use request::{Ask, Caller, Decider, Request, ResourcePolicy};

use crate::config::{Config, Devices, IotAccount, Origin, SourceRole, Target};
use serde_json::Value;

/// A device chain's start: the IoT role, role alias and IoT policy of one layout — the fleet's shared
/// one, or, when devices are gated, one environment's own — and the devices it admits.
#[derive(Debug, Clone, PartialEq)]
pub struct Device {
    /// The IoT account with this layout's names (role, alias, policy) and the certificates its
    /// policy is attached to (none when a thing group carries it).
    pub iot: IotAccount,
    /// The IoT role's ARN.
    pub role_arn: String,
    /// The role alias's ARN.
    pub alias_arn: String,
    /// The environment whose devices alone this layout serves, and its gate (None: the fleet's
    /// shared layout, serving every environment).
    pub gate: Option<(String, Option<Devices>)>,
}

impl Device {
    /// The layout serving environment `t`'s devices (`t` None: the fleet's shared layout). None for a
    /// `source:` file.
    pub fn of(cfg: &Config, t: Option<&Target>) -> Option<Device> {
        let shared = cfg.iot()?;
        let mut iot = shared.clone();
        let gate = match t {
            Some(t) if cfg.gated() => {
                let n = cfg.iot_names(t)?;
                iot.role_name = n.role_name;
                iot.role_alias = n.role_alias;
                iot.policy_name = n.policy_name;
                if matches!(t.devices, Some(Devices::ThingGroup(_))) {
                    iot.certificates.clear();
                }
                Some((t.name.clone(), t.devices.clone()))
            }
            _ => None,
        };
        Some(Device {
            role_arn: format!(
                "arn:{}:iam::{}:role/{}",
                cfg.partition, iot.account, iot.role_name
            ),
            alias_arn: format!(
                "arn:{}:iot:{}:{}:rolealias/{}",
                cfg.partition, cfg.region, iot.account, iot.role_alias
            ),
            iot,
            gate,
        })
    }

    /// Whether this layout serves environment `t`.
    pub fn serves(&self, t: &Target) -> bool {
        self.gate.as_ref().is_none_or(|(e, _)| *e == t.name)
    }

    /// The thing group that carries this layout's IoT policy, if its environment is gated on one.
    pub fn thing_group(&self) -> Option<&str> {
        match &self.gate {
            Some((_, Some(Devices::ThingGroup(g)))) => Some(g),
            _ => None,
        }
    }

    /// The same layout, with one certificate in place of those of `iot.certificates` (verify's
    /// explanation of the certificate it ran with).
    pub fn with_certificate(mut self, id: Option<&str>) -> Device {
        if let Some(id) = id {
            if self.thing_group().is_none() {
                self.iot.certificates = vec![id.to_string()];
            }
        }
        self
    }
}

/// Where an environment's chain starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Start {
    /// A device certificate → the IoT credentials provider → the layout's IoT role.
    Device(Device),
    /// An existing workload role's sessions (the workload's own).
    Workload(SourceRole),
}

/// One environment's chain: where it starts and its hops in order.
#[derive(Debug, Clone)]
pub struct Chain<'a> {
    pub env: &'a Target,
    pub start: Start,
    pub hops: Vec<Hop>,
}

impl<'a> Chain<'a> {
    /// The chain of environment `t`.
    pub fn of(cfg: &Config, t: &'a Target) -> Chain<'a> {
        let start = match &cfg.origin {
            Origin::Iot(_) => {
                Start::Device(Device::of(cfg, Some(t)).expect("a device chain has an IoT account"))
            }
            Origin::Role(src) => Start::Workload(src.clone()),
        };
        Chain {
            env: t,
            hops: hops(cfg, t),
            start,
        }
    }

    /// Each hop's request, in the order of `hops`: who calls, which action on which resource, which
    /// documents decide it, the context AWS sets.
    pub fn requests(&self, cfg: &Config) -> Vec<Request> {
        let t = self.env;
        // the session the hops after the start are made with (the target role's once assumed)
        let origin = match &self.start {
            Start::Device(d) => d.role_arn.clone(),
            Start::Workload(s) => s.arn.clone(),
        };
        let device = device_of(t);
        let mut out = Vec::new();
        for &hop in &self.hops {
            let r = match hop {
                Hop::Credentials => {
                    let d = self.device().expect("a credentials hop starts at a device");
                    let iot = xacct_policy::requests::assume_role_with_certificate(
                        &d.alias_arn,
                        None,
                        None,
                    );
                    let provider = xacct_policy::requests::provider_assumes_role(
                        &d.role_arn,
                        Value::Null,
                        &d.iot.account,
                        &d.alias_arn,
                    );
                    Request {
                        hop,
                        caller: Caller::Certificate,
                        asks: vec![
                            Ask {
                                part: Some(Part::IotPolicy),
                                action: iot.action,
                                resource: iot.resource,
                                decided_by: vec![Decider::IotPolicies],
                                context: iot.context,
                            },
                            Ask {
                                part: Some(Part::RoleAlias),
                                action: "iot:AssumeRoleWithCertificate".into(),
                                resource: d.alias_arn.clone(),
                                decided_by: vec![Decider::RoleAlias {
                                    alias: d.alias_arn.clone(),
                                }],
                                context: Default::default(),
                            },
                            Ask {
                                part: Some(Part::IotTrust),
                                action: provider.action,
                                resource: provider.resource,
                                decided_by: vec![
                                    Decider::Resource {
                                        policy: ResourcePolicy::Trust,
                                        of: d.role_arn.clone(),
                                    },
                                    Decider::Rcps {
                                        account: d.iot.account.clone(),
                                    },
                                ],
                                context: provider.context,
                            },
                        ],
                    }
                }
                Hop::Source => Request {
                    hop,
                    caller: Caller::Role(origin.clone()),
                    asks: vec![],
                },
                Hop::AssumeRole => {
                    let target = cfg.target_role_arn(t);
                    let mut own = request::role_ask(
                        &origin,
                        device.clone(),
                        Some(Part::SourcePolicy),
                        "sts:AssumeRole",
                        &target,
                        None,
                    );
                    own.decided_by
                        .retain(|d| !matches!(d, Decider::Rcps { .. }));
                    let mut asks = vec![request::role_ask(
                        &origin,
                        device.clone(),
                        Some(Part::TargetTrust),
                        "sts:AssumeRole",
                        &target,
                        Some(ResourcePolicy::Trust),
                    )];
                    // a workload's own side is proven on its own; a device's within the trust's
                    if matches!(self.start, Start::Workload(_)) {
                        asks.insert(0, own);
                    }
                    Request {
                        hop,
                        caller: Caller::Role(origin.clone()),
                        asks,
                    }
                }
                target_hop => {
                    let caller = if t.direct() {
                        origin.clone()
                    } else {
                        cfg.target_role_arn(t)
                    };
                    let ty = crate::targets::TYPES
                        .iter()
                        .find(|ty| ty.hop() == target_hop)
                        .expect("every hop after the target role is a target type's");
                    Request {
                        hop,
                        asks: ty.asks(cfg, t, &caller, device.clone()),
                        caller: Caller::Role(caller),
                    }
                }
            };
            out.push(r);
        }
        out
    }

    /// The device layout it starts at, if it is a device chain.
    pub fn device(&self) -> Option<&Device> {
        match &self.start {
            Start::Device(d) => Some(d),
            Start::Workload(_) => None,
        }
    }
}

/// The device an environment admits, as the request context of its sessions (a thing type gate
/// is a condition on `credentials-iot:ThingTypeName`).
pub fn device_of(t: &Target) -> Option<xacct_policy::context::IotDevice> {
    match &t.devices {
        Some(Devices::ThingType(ty)) => Some(xacct_policy::context::IotDevice {
            thing_type: Some(ty.clone()),
            ..Default::default()
        }),
        _ => None,
    }
}

/// The chains of the environments `selected` names (all when empty), in file order.
pub fn chains<'a>(cfg: &'a Config, selected: &'a [String]) -> Vec<Chain<'a>> {
    cfg.selected(selected).map(|t| Chain::of(cfg, t)).collect()
}

/// The device layouts of the file: the fleet's shared one, or, gated, one per environment (none for a
/// `source:` file).
pub fn layouts(cfg: &Config) -> Vec<Device> {
    if cfg.gated() {
        cfg.environments
            .iter()
            .filter_map(|t| Device::of(cfg, Some(t)))
            .collect()
    } else {
        Device::of(cfg, None).into_iter().collect()
    }
}

/// The hops of environment `t`, in order: how the chain starts, the role it assumes (none in direct
/// mode), then one hop per kind of target it lists.
pub fn hops(cfg: &Config, t: &Target) -> Vec<Hop> {
    let mut v = vec![match cfg.origin {
        Origin::Iot(_) => Hop::Credentials,
        Origin::Role(_) => Hop::Source,
    }];
    if !t.direct() {
        v.push(Hop::AssumeRole);
    }
    v.extend(target_hops(t));
    v
}

/// The hops after the target role, for the targets `t` lists: one per target type it lists, in the
/// order of the registry (`targets::TYPES`).
pub fn target_hops(t: &Target) -> Vec<Hop> {
    crate::targets::listed(t).map(|ty| ty.hop()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn parse(y: &str) -> Config {
        crate::config::parse(Path::new("t.yaml"), y).unwrap()
    }

    /// Without gating every environment's chain starts at the fleet's shared layout; gated, each at
    /// its own, naming only its own devices; a `source:` file's at the source role.
    #[test]
    fn each_environment_starts_where_its_layout_says() {
        let shared = parse("fleet: f\nregion: eu-west-1\niot: {account: \"111111111111\", certificates: [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}\nenvironments:\n  a: {account: \"222222222222\", functions: [x]}\n  b: {account: \"333333333333\", functions: [y], mode: direct}\n");
        let cs = chains(&shared, &[]);
        assert_eq!(cs.len(), 2);
        let d = cs[0].device().unwrap();
        assert_eq!(d, cs[1].device().unwrap());
        assert_eq!(d.role_arn, "arn:aws:iam::111111111111:role/f-device");
        assert!(d.gate.is_none() && d.serves(&shared.environments[1]));
        assert_eq!(cs[0].hops, [Hop::Credentials, Hop::AssumeRole, Hop::Invoke]);
        assert_eq!(cs[1].hops, [Hop::Credentials, Hop::Invoke]);
        assert_eq!(layouts(&shared).len(), 1);

        let gated = parse("fleet: f\nregion: eu-west-1\niot: {account: \"111111111111\", certificates: [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}\nenvironments:\n  a: {account: \"222222222222\", functions: [x], devices: {thing_group: gws}}\n  b: {account: \"333333333333\", functions: [y]}\n");
        let only_a = ["a".to_string()];
        let cs = chains(&gated, &only_a);
        assert_eq!(cs.len(), 1);
        let d = cs[0].device().unwrap();
        assert_eq!(d.iot.role_name, "f-a-device");
        assert_eq!(
            d.alias_arn,
            "arn:aws:iot:eu-west-1:111111111111:rolealias/f-a"
        );
        assert_eq!(d.thing_group(), Some("gws"));
        assert!(
            d.iot.certificates.is_empty(),
            "a thing group carries the policy"
        );
        assert!(!d.serves(&gated.environments[1]));
        // the certificate verify ran with replaces the listed ones, never a thing group
        let b = Device::of(&gated, Some(&gated.environments[1])).unwrap();
        assert_eq!(b.iot.policy_name, "f-b-credentials");
        assert_eq!(
            b.clone().with_certificate(Some("c")).iot.certificates,
            ["c"]
        );
        assert!(d
            .clone()
            .with_certificate(Some("c"))
            .iot
            .certificates
            .is_empty());
        assert_eq!(layouts(&gated).len(), 2);

        let source = parse("fleet: f\nregion: eu-west-1\nsource: {account: \"444444444444\", role: \"arn:aws:iam::444444444444:role/app\"}\nenvironments:\n  a: {account: \"222222222222\", functions: [x]}\n");
        let cs = chains(&source, &[]);
        assert!(matches!(&cs[0].start, Start::Workload(s) if s.role_name == "app"));
        assert_eq!(cs[0].hops, [Hop::Source, Hop::AssumeRole, Hop::Invoke]);
        assert!(layouts(&source).is_empty());
    }

    /// Each hop's request names its caller, its actions and resources and the documents that decide
    /// them: the credentials hop the device's certificate under the IoT policies, the alias and the
    /// provider under the IoT role's trust; assume-role the IoT role's session under the target's
    /// trust (and the workload's own policies, for a source chain); the targets the target role's
    /// session (the IoT role's in direct mode) under each resource's policy.
    #[test]
    fn each_hop_says_who_asks_what_and_which_documents_decide() {
        let cfg = parse("fleet: f\nregion: eu-west-1\niot: {account: \"111111111111\"}\nenvironments:\n  a:\n    account: \"222222222222\"\n    functions: [x]\n    objects: [\"arn:aws:s3:::logs/k\"]\n    devices: {thing_type: gw}\n  b: {account: \"333333333333\", functions: [y], mode: direct}\n");
        let cs = chains(&cfg, &[]);
        let a = cs[0].requests(&cfg);
        assert_eq!(
            a.iter().map(|r| r.hop).collect::<Vec<_>>(),
            cs[0].hops,
            "one request per hop, in order"
        );
        assert_eq!(a[0].caller, Caller::Certificate);
        let parts: Vec<_> = a[0].asks.iter().map(|k| k.part).collect();
        assert_eq!(
            parts,
            [
                Some(Part::IotPolicy),
                Some(Part::RoleAlias),
                Some(Part::IotTrust)
            ]
        );
        assert_eq!(a[0].asks[0].action, "iot:AssumeRoleWithCertificate");
        assert_eq!(a[0].asks[2].context["aws:SourceArn"], a[0].asks[0].resource);
        let iot_role = "arn:aws:iam::111111111111:role/f-a-device";
        assert_eq!(a[1].caller, Caller::Role(iot_role.into()));
        let trust = &a[1].asks[0];
        assert_eq!(
            (trust.action.as_str(), trust.resource.as_str()),
            ("sts:AssumeRole", "arn:aws:iam::222222222222:role/f-a")
        );
        assert!(trust.decided_by.contains(&Decider::Resource {
            policy: ResourcePolicy::Trust,
            of: trust.resource.clone()
        }));
        assert_eq!(trust.context["credentials-iot:ThingTypeName"], "gw");
        let target = "arn:aws:iam::222222222222:role/f-a";
        assert_eq!(a[2].caller, Caller::Role(target.into()));
        assert_eq!(a[2].asks[0].action, "lambda:InvokeFunction");
        assert_eq!(a[3].hop, Hop::GetObject);
        assert_eq!(
            a[3].asks
                .iter()
                .map(|k| k.action.as_str())
                .collect::<Vec<_>>(),
            ["s3:GetObject", "kms:Decrypt"]
        );
        // direct: the IoT role's session invokes, under the function's policy
        let b = cs[1].requests(&cfg);
        assert_eq!(b.len(), 2);
        assert_eq!(
            b[1].caller,
            Caller::Role("arn:aws:iam::111111111111:role/f-b-device".into())
        );
        assert!(b[1].asks[0].decided_by.iter().any(|d| matches!(
            d,
            Decider::Resource {
                policy: ResourcePolicy::Function,
                ..
            }
        )));

        let source = parse("fleet: f\nregion: eu-west-1\nsource: {account: \"444444444444\", role: \"arn:aws:iam::444444444444:role/app\"}\nenvironments:\n  a: {account: \"222222222222\", functions: [x]}\n");
        let s = chains(&source, &[])[0].requests(&source);
        assert!(s[0].asks.is_empty());
        let parts: Vec<_> = s[1].asks.iter().map(|k| k.part).collect();
        assert_eq!(parts, [Some(Part::SourcePolicy), Some(Part::TargetTrust)]);
    }
}
