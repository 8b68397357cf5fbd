//! The requests of a chain as AWS authorizes them: for each kind, the action, the resource, the
//! context keys AWS sets and which documents decide. The proof (`check`) and the sandbox's emulators
//! both build their cases here, so what one evaluates cannot drift from what the other enforces.

use crate::eval::Case;
use serde_json::{Map, Value};

/// The service principal of the IoT credentials provider.
pub const CREDENTIALS_PROVIDER: &str = "credentials.iot.amazonaws.com";

/// An authorization without its policies: what is asked, on what, with which context keys.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub action: String,
    pub resource: String,
    pub context: Map<String, Value>,
}

fn put(m: &mut Map<String, Value>, k: &str, v: &str) {
    m.insert(k.to_string(), Value::String(v.to_string()));
}

/// The credentials provider's check of a device: `iot:AssumeRoleWithCertificate` on the role alias,
/// decided by the IoT policies of the certificate (and of the thing's groups). IoT sets the
/// certificate's id, and the thing's name when the request names one (`x-amzn-iot-thingname`);
/// the `credentials-iot:*` keys belong to the issued session's IAM requests, not to IoT policies.
pub fn assume_role_with_certificate(
    alias_arn: &str,
    certificate_id: Option<&str>,
    thing_name: Option<&str>,
) -> Request {
    let mut context = Map::new();
    if let Some(id) = certificate_id {
        put(&mut context, "iot:Certificate.Id", id);
    }
    if let Some(t) = thing_name {
        put(&mut context, "iot:Connection.Thing.ThingName", t);
    }
    Request {
        action: "iot:AssumeRoleWithCertificate".into(),
        resource: alias_arn.into(),
        context,
    }
}

/// The credentials provider assuming the alias's role: `sts:AssumeRole` by the service principal,
/// decided by the role's trust alone, with the keys AWS sets for a service acting for a resource
/// (`aws:SourceAccount`, `aws:SourceArn`: the alias) over TLS.
pub fn provider_assumes_role(
    role_arn: &str,
    trust: Value,
    iot_account: &str,
    alias_arn: &str,
) -> Case {
    let mut context = Map::new();
    put(&mut context, "aws:SourceAccount", iot_account);
    put(&mut context, "aws:SourceArn", alias_arn);
    put(&mut context, "aws:SecureTransport", "true");
    put(&mut context, "aws:PrincipalIsAWSService", "true");
    put(
        &mut context,
        "aws:PrincipalServiceName",
        CREDENTIALS_PROVIDER,
    );
    Case {
        principal: CREDENTIALS_PROVIDER.into(),
        action: "sts:AssumeRole".into(),
        resource: role_arn.into(),
        identity_policies: vec![],
        resource_policy: Some(trust),
        context,
        permissions_boundary: None,
        ..Default::default()
    }
}

/// What AWS authorizes for a GetObject, in order, each with the resource policy that decides it
/// beside the caller's own: `s3:GetObject` on the object under the bucket policy, then, when a
/// customer managed KMS key encrypts the object, `kms:Decrypt` on the key under its key policy (a
/// key policy must allow explicitly, even in the key's own account: no policy reads as none).
pub fn get_object(
    object_arn: &str,
    bucket_policy: Option<&Value>,
    customer_key: Option<(&str, Option<&Value>)>,
) -> Vec<(String, String, Option<Value>)> {
    let mut out = vec![(
        "s3:GetObject".to_string(),
        object_arn.to_string(),
        bucket_policy.cloned(),
    )];
    if let Some((key, policy)) = customer_key {
        out.push((
            "kms:Decrypt".to_string(),
            key.to_string(),
            Some(policy.cloned().unwrap_or(Value::Null)),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{evaluate, evaluate_identity, Decision};
    use serde_json::json;

    #[test]
    fn a_trust_conditioned_on_the_alias_admits_the_provider_and_only_for_that_alias() {
        let trust = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":CREDENTIALS_PROVIDER},"Action":"sts:AssumeRole",
            "Condition":{"StringEquals":{"aws:SourceAccount":"111111111111"},"ArnEquals":{"aws:SourceArn":"arn:aws:iot:eu-west-1:111111111111:rolealias/a"},"Bool":{"aws:SecureTransport":"true"}}}]});
        let role = "arn:aws:iam::111111111111:role/r";
        let ok = provider_assumes_role(
            role,
            trust.clone(),
            "111111111111",
            "arn:aws:iot:eu-west-1:111111111111:rolealias/a",
        );
        assert_eq!(evaluate(&ok).unwrap().decision, Decision::Allow);
        let other = provider_assumes_role(
            role,
            trust,
            "111111111111",
            "arn:aws:iot:eu-west-1:111111111111:rolealias/b",
        );
        assert_ne!(evaluate(&other).unwrap().decision, Decision::Allow);
    }

    #[test]
    fn an_iot_policy_sees_the_certificate_and_the_thing_but_no_session_keys() {
        let alias = "arn:aws:iot:eu-west-1:111111111111:rolealias/a";
        let policy = json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"iot:AssumeRoleWithCertificate","Resource":alias,
            "Condition":{"StringEquals":{"iot:Connection.Thing.ThingName":"gw-1","iot:Certificate.Id":"abc"}}}]});
        let r = assume_role_with_certificate(alias, Some("abc"), Some("gw-1"));
        let allow = |r: &Request| {
            evaluate_identity(
                std::slice::from_ref(&policy),
                &r.action,
                &r.resource,
                &r.context,
            )
            .unwrap()
            .decision
        };
        assert_eq!(allow(&r), Decision::Allow);
        assert_ne!(
            allow(&assume_role_with_certificate(alias, Some("abc"), None)),
            Decision::Allow
        );
        assert!(!r.context.contains_key("credentials-iot:ThingName"));
    }

    #[test]
    fn get_object_decrypts_only_with_a_customer_key() {
        let o = "arn:aws:s3:::b/k";
        assert_eq!(get_object(o, None, None).len(), 1);
        let both = get_object(o, None, Some(("arn:aws:kms:eu-west-1:1:key/k", None)));
        assert_eq!(both[1].0, "kms:Decrypt");
        assert_eq!(both[1].2, Some(Value::Null));
    }
}
