//! Unit tests of the planner: diff, order, destroy, ownership, broadening marks and plan validation.
use super::*;
use crate::model::{IamRole, IamRolePolicy, IotRoleAlias, Kind, Live};
use serde_json::json;
use serde_json::Value;
use std::path::Path;

fn cfg() -> Config {
    crate::config::parse(
            Path::new("t.yaml"),
            "fleet: f\nregion: eu-west-1\niot: {account: \"111111111111\", certificates: [\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"]}\nenvironments:\n  a: {account: \"222222222222\", functions: [x]}\n",
        )
        .unwrap()
}

/// The snapshot of a fully applied fleet, as IAM would return it (single values un-listed).
fn applied(cfg: &Config) -> (Vec<Resource>, Snapshot) {
    let desired = crate::desired::desired(cfg);
    let mut snap = Snapshot::default();
    for r in &desired {
        snap.live.insert(
            r.addr.clone(),
            Live {
                spec: r.spec.clone(),
                arn: None,
            },
        );
    }
    (desired, snap)
}

fn set_trust(snap: &mut Snapshot, env: &str, trust: Value) {
    for (a, l) in snap.live.iter_mut() {
        if a.env.as_deref() == Some(env) && a.kind == Kind::IamRole {
            if let Spec::IamRole(IamRole {
                assume_role_policy, ..
            }) = &mut l.spec
            {
                *assume_role_policy = trust.clone();
            }
        }
    }
}

#[test]
fn empty_accounts_plan_creates_everything_in_order() {
    let c = cfg();
    let desired = crate::desired::desired(&c);
    let ch = diff(&c, &desired, &Snapshot::default());
    assert_eq!(ch.len(), 7);
    assert!(ch.iter().all(|c| c.action() == Action::Create));
    assert_eq!(ch[0].addr.kind, Kind::IamRole);
    assert_eq!(ch[0].addr.env, None);
}

#[test]
fn applied_state_plans_nothing_even_when_iam_reformats_documents() {
    let c = cfg();
    let (desired, mut snap) = applied(&c);
    // IAM: single values un-listed, keys reordered, URL-encoded
    let t = r#"{"Statement":[{"Action":"sts:AssumeRole","Principal":{"AWS":"arn:aws:iam::111111111111:role/f-device"},"Effect":"Allow","Sid":"IotDeviceRole"}],"Version":"2012-10-17"}"#;
    let enc =
        percent_encoding::utf8_percent_encode(t, percent_encoding::NON_ALPHANUMERIC).to_string();
    set_trust(&mut snap, "a", crate::policy::parse_document(&enc).unwrap());
    assert_eq!(diff(&c, &desired, &snap), vec![]);
}

#[test]
fn aroa_principal_is_planned_as_an_update_with_a_note() {
    let c = cfg();
    let (desired, mut snap) = applied(&c);
    set_trust(
        &mut snap,
        "a",
        json!({"Version":"2012-10-17","Statement":[{"Sid":"IotDeviceRole","Effect":"Allow","Principal":{"AWS":"AROA4EXAMPLEUNIQUEID"},"Action":"sts:AssumeRole"}]}),
    );
    let ch = diff(&c, &desired, &snap);
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].action(), Action::Update);
    assert!(
        ch[0].notes[0].contains("AROA4EXAMPLEUNIQUEID"),
        "{:?}",
        ch[0].notes
    );
}

#[test]
fn untagged_role_is_a_conflict_and_destroy_leaves_it() {
    let c = cfg();
    let (desired, mut snap) = applied(&c);
    for (a, l) in snap.live.iter_mut() {
        if a.env.is_some() && a.kind == Kind::IamRole {
            if let Spec::IamRole(IamRole { tags, .. }) = &mut l.spec {
                tags.clear();
            }
        }
    }
    let ch = diff(&c, &desired, &snap);
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].action(), Action::Adopt);
    let (del, untouched) = destroy(&c, &desired, &snap);
    assert_eq!(
        untouched.len(),
        2,
        "the role and its inline policy stay: {untouched:?}"
    );
    assert!(del.iter().all(|d| d.addr.env.is_none()));
}

#[test]
fn foreign_alias_is_a_conflict_in_a_fresh_account_but_drift_once_the_fleet_exists() {
    let c = cfg();
    let (desired, mut snap) = applied(&c);
    let other = "arn:aws:iam::111111111111:role/other".to_string();
    for l in snap.live.values_mut() {
        if let Spec::IotRoleAlias(IotRoleAlias { role_arn, .. }) = &mut l.spec {
            *role_arn = other.clone();
        }
    }
    let ch = diff(&c, &desired, &snap);
    assert_eq!(ch.len(), 1);
    assert_eq!(ch[0].action(), Action::Update);
    // without our IoT role, the same alias is someone else's
    snap.live
        .retain(|a, _| !(a.kind == Kind::IamRole && a.env.is_none()));
    let ch = diff(&c, &desired, &snap);
    let alias = ch
        .iter()
        .find(|c| c.addr.kind == Kind::IotRoleAlias)
        .unwrap();
    assert_eq!(alias.action(), Action::Adopt);
}

#[test]
fn role_with_another_path_is_replaced_with_its_policy() {
    let c = cfg();
    let (desired, mut snap) = applied(&c);
    for (a, l) in snap.live.iter_mut() {
        if a.env.is_some() {
            if let Spec::IamRole(IamRole { path, .. }) = &mut l.spec {
                *path = "/legacy/".into();
            }
        }
    }
    let ch = diff(&c, &desired, &snap);
    let actions: Vec<(Kind, Action)> = ch.iter().map(|c| (c.addr.kind, c.action())).collect();
    assert_eq!(
        actions,
        vec![
            (Kind::IamRole, Action::Replace),
            (Kind::IamRolePolicy, Action::Create)
        ]
    );
}

#[test]
fn unlisted_certificate_attachment_is_deleted_and_destroy_order_is_reverse() {
    let c = cfg();
    let (desired, mut snap) = applied(&c);
    let extra = crate::desired::attachment(&c, c.iot().unwrap(), &"b".repeat(64));
    snap.live.insert(
        extra.addr.clone(),
        Live {
            spec: extra.spec.clone(),
            arn: None,
        },
    );
    let ch = diff(&c, &desired, &snap);
    assert_eq!(ch.len(), 1);
    assert_eq!(
        (ch[0].addr.kind, ch[0].action()),
        (Kind::IotPolicyAttachment, Action::Delete)
    );
    let (del, _) = destroy(&c, &desired, &snap);
    let order: Vec<(Kind, bool)> = del
        .iter()
        .map(|d| (d.addr.kind, d.addr.env.is_some()))
        .collect();
    assert_eq!(
        order,
        vec![
            (Kind::IotPolicyAttachment, false),
            (Kind::IotPolicyAttachment, false),
            (Kind::IotPolicy, false),
            (Kind::IotRoleAlias, false),
            (Kind::IamRolePolicy, true),
            (Kind::IamRole, true),
            (Kind::IamRolePolicy, false),
            (Kind::IamRole, false),
        ]
    );
}

#[test]
fn fingerprint_changes_with_the_live_state_only() {
    let c = cfg();
    let (_, snap) = applied(&c);
    let a = snap.fingerprint();
    assert_eq!(a, snap.clone().fingerprint());
    let mut other = snap.clone();
    set_trust(&mut other, "a", json!({"Statement":[]}));
    assert_ne!(a, other.fingerprint());
}

fn plan_of(c: &Config, changes: Vec<Change>) -> Plan {
    Plan {
        format_version: FORMAT_VERSION.into(),
        mode: Mode::Apply,
        config: c.clone(),
        selected: vec![],
        changes,
        untouched: vec![],
        prior_fingerprint: String::new(),
        discovered: Default::default(),
    }
}

#[test]
fn a_plan_is_valid_only_as_its_environment_file_could_have_made_it() {
    let c = cfg();
    let desired = crate::desired::desired(&c);
    let good = diff(&c, &desired, &Snapshot::default());
    assert_eq!(plan_of(&c, good.clone()).validate(), Ok(()));

    // an environment's change moved to another account
    let mut ch = good.clone();
    let env = ch.iter_mut().find(|c| c.addr.env.is_some()).unwrap();
    env.addr.account = "999999999999".into();
    assert!(matches!(
        plan_of(&c, ch).validate(),
        Err(PlanError::WrongAccount { expected, found, .. }) if expected == "222222222222" && found == "999999999999"
    ));

    // a state of another kind than its address
    let mut ch = good.clone();
    let alias_spec = ch[2].after().unwrap().clone();
    ch[0].op = Op::Create { after: alias_spec };
    assert!(matches!(
        plan_of(&c, ch).validate(),
        Err(PlanError::WrongKind { .. })
    ));

    // a document that is not the desired one
    let mut ch = good.clone();
    if let Op::Create {
        after: Spec::IamRolePolicy(IamRolePolicy { policy, .. }),
    } = &mut ch[1].op
    {
        *policy = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:*","Resource":"*"}]});
    } else {
        panic!("{:?}", ch[1]);
    }
    assert!(matches!(
        plan_of(&c, ch).validate(),
        Err(PlanError::NotDesired { .. })
    ));

    // an environment the file does not have
    let mut ch = good;
    let env = ch.iter_mut().find(|c| c.addr.env.is_some()).unwrap();
    env.addr.env = Some("nope".into());
    assert_eq!(
        plan_of(&c, ch).validate(),
        Err(PlanError::UnknownEnv("nope".into()))
    );
}

#[test]
fn impossible_changes_cannot_be_loaded() {
    // a delete without the state it deletes, an update without before
    let bad = [
        r#"{"addr":{"account":"1","env":null,"kind":"iam_role","name":"r"},"action":"delete"}"#,
        r#"{"addr":{"account":"1","env":null,"kind":"iot_role_alias","name":"a"},"action":"update","after":{"type":"iot_role_alias","role_alias":"a","role_arn":"x","credential_duration":900}}"#,
        r#"{"addr":{"account":"1","env":null,"kind":"iot_role_alias","name":"a"},"action":"rename","after":{"type":"iot_role_alias","role_alias":"a","role_arn":"x","credential_duration":900}}"#,
    ];
    for b in bad {
        assert!(serde_json::from_str::<Change>(b).is_err(), "{b}");
    }
    let ok = r#"{"addr":{"account":"1","env":null,"kind":"iot_role_alias","name":"a"},"action":"create","after":{"type":"iot_role_alias","role_alias":"a","role_arn":"x","credential_duration":900}}"#;
    let ch: Change = serde_json::from_str(ok).unwrap();
    assert_eq!(ch.action(), Action::Create);
}

#[test]
fn removing_a_deny_or_a_condition_broadens_access() {
    let c = cfg();
    let (desired, mut snap) = applied(&c);
    // live trust has an extra Deny and a condition on the allow statement
    set_trust(
        &mut snap,
        "a",
        json!({"Version":"2012-10-17","Statement":[
            {"Sid":"IotDeviceRole","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:role/f-device"},"Action":"sts:AssumeRole","Condition":{"Bool":{"aws:SecureTransport":"true"}}},
            {"Sid":"NoOthers","Effect":"Deny","Principal":"*","Action":"sts:AssumeRole","Condition":{"StringNotEquals":{"aws:PrincipalAccount":"111111111111"}}}
        ]}),
    );
    let ch = diff(&c, &desired, &snap);
    assert_eq!(ch.len(), 1);
    let b = &ch[0].broadens;
    assert!(
        b.iter().any(|x| x == "removes the Deny statement NoOthers"),
        "{b:?}"
    );
    assert!(
        b.iter()
            .any(|x| x
                == "removes the condition Bool aws:SecureTransport from statement IotDeviceRole"),
        "{b:?}"
    );
    assert!(!b.iter().any(|x| x.starts_with("new ")), "{b:?}");
}

/// A role of one environment carries `xacct:env=<env>` beside the fleet tag. A role of the fleet
/// without it (made by an older xacct) is still ours and gains it in an update the plan shows; a
/// role of the fleet tagged for another environment is not ours.
#[test]
fn roles_of_an_environment_are_owned_by_fleet_and_environment() {
    let c = cfg();
    let (desired, snap) = applied(&c);
    fn target(snap: &mut Snapshot) -> &mut IamRole {
        let l = snap
            .live
            .iter_mut()
            .find(|(a, _)| a.kind == Kind::IamRole && a.env.as_deref() == Some("a"))
            .unwrap()
            .1;
        match &mut l.spec {
            Spec::IamRole(r) => r,
            other => panic!("{other:?}"),
        }
    }
    let shared = desired
        .iter()
        .find_map(|r| IamRole::of(&r.spec).filter(|_| r.addr.env.is_none()))
        .unwrap();
    assert!(!shared.tags.contains_key(crate::config::ENV_TAG));

    let mut legacy = snap.clone();
    target(&mut legacy).tags.remove(crate::config::ENV_TAG);
    let ch = diff(&c, &desired, &legacy);
    assert_eq!(ch.len(), 1, "{ch:?}");
    assert_eq!(ch[0].action(), Action::Update);
    assert!(ch[0]
        .notes
        .iter()
        .any(|n| n.contains("gains the tag xacct:env=a")));

    let mut other = snap.clone();
    target(&mut other)
        .tags
        .insert(crate::config::ENV_TAG.into(), "b".into());
    let ch = diff(&c, &desired, &other);
    assert_eq!(ch[0].action(), Action::Adopt, "{ch:?}");
    assert!(ch[0].notes[0].contains("owned by environment `b` of fleet `f`"));
    // destroy leaves it alone
    let (del, untouched) = destroy(&c, &desired, &other);
    assert!(untouched
        .iter()
        .any(|a| a.kind == Kind::IamRole && a.env.is_some()));
    assert!(!del
        .iter()
        .any(|d| d.addr.kind == Kind::IamRole && d.addr.env.is_some()));
}
