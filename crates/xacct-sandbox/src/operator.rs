//! IAM for the operator's sessions, switched on per account: the sessions of a role tagged
//! `xacct-sandbox:enforce=true` (the role a tool such as xacct assumes to administer the account)
//! are allowed only what that role's policies allow, as AWS would. Each request is mapped to the
//! IAM action and resource AWS authorizes it as, with this module's own map taken from AWS's Service
//! Authorization Reference and the services' API references (never from the tool's own list of
//! the calls it makes, so a test that gives the role exactly the tool's list proves the list). A
//! request this map does not know is refused too, so that a gap shows.

use crate::aws::Clients;
use serde_json::Value;

/// The tag that switches enforcement on for the sessions of a role.
pub const ENFORCE_TAG: &str = "xacct-sandbox:enforce";

/// What AWS authorizes a request as: an action on a resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorized {
    pub action: String,
    pub resource: String,
    /// Keys AWS sets for this authorization only (`iam:PassedToService` for a role passed to a
    /// service).
    pub context: Vec<(String, String)>,
}

fn of(action: &str, resource: impl Into<String>) -> Option<Authorized> {
    Some(Authorized {
        action: action.to_string(),
        resource: resource.into(),
        context: vec![],
    })
}

fn decode(s: &str) -> String {
    xacct_policy::document::percent_decode(s)
}

/// Everything AWS authorizes the request as: its action on its resource, and the permissions the
/// action depends on (`iam:PassRole` on the role a role alias hands out, for
/// `CreateRoleAlias`/`UpdateRoleAlias`). None when this map does not know the request.
#[allow(clippy::too_many_arguments)]
pub async fn authorized_as(
    admin: &Clients,
    service: &str,
    method: &hyper::Method,
    uri: &hyper::Uri,
    headers: &hyper::HeaderMap,
    form: &[(String, String)],
    body: &[u8],
    region: &str,
    account: &str,
) -> Option<Vec<Authorized>> {
    let main = action_of(
        admin, service, method, uri, headers, form, body, region, account,
    )
    .await?;
    let mut all = vec![main.clone()];
    if main.action == "iot:CreateRoleAlias" || main.action == "iot:UpdateRoleAlias" {
        let passed = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["roleArn"].as_str().map(String::from));
        if let Some(role) = passed {
            // the role is passed to IoT, which the request context says
            all.push(Authorized {
                action: "iam:PassRole".into(),
                resource: role,
                context: vec![("iam:PassedToService".into(), "iot.amazonaws.com".into())],
            });
        }
    }
    Some(all)
}

/// The request's own IAM action and resource, or None when this map does not know it.
#[allow(clippy::too_many_arguments)]
async fn action_of(
    admin: &Clients,
    service: &str,
    method: &hyper::Method,
    uri: &hyper::Uri,
    headers: &hyper::HeaderMap,
    form: &[(String, String)],
    body: &[u8],
    region: &str,
    account: &str,
) -> Option<Authorized> {
    let partition = xacct_policy::arn::partition_of(region);
    let path = uri.path();
    let query = uri.query().unwrap_or("");
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let get = |k: &str| form.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
    match service {
        "iam" => {
            let action = get("Action")?;
            // an action on a role is authorized on the role, also when it names a policy
            // (AttachRolePolicy, DetachRolePolicy: the policy is a condition key, iam:PolicyARN)
            let resource = if let (Some(arn), None) = (get("PolicyArn"), get("RoleName")) {
                arn
            } else if let Some(name) = get("RoleName") {
                // the role's ARN carries its path: ask IAM (a role being created: its Path)
                match crate::aws::role(admin, &name).await {
                    Ok(Some(r)) => r.arn,
                    _ => format!(
                        "arn:{partition}:iam::{account}:role{}{name}",
                        get("Path").unwrap_or_else(|| "/".into())
                    ),
                }
            } else {
                "*".into()
            };
            of(&format!("iam:{action}"), resource)
        }
        "sts" => {
            let action = get("Action")?;
            match action.as_str() {
                "AssumeRole" => of("sts:AssumeRole", get("RoleArn")?),
                // no permission is needed to know who one is
                "GetCallerIdentity" => None,
                other => of(&format!("sts:{other}"), "*"),
            }
        }
        "iot" => {
            let arn = |r: &str| format!("arn:{partition}:iot:{region}:{account}:{r}");
            let target_of = || {
                serde_json::from_slice::<Value>(body)
                    .ok()
                    .and_then(|v| v["target"].as_str().map(String::from))
            };
            let m = method.as_str();
            match (m, segs.as_slice()) {
                ("GET", ["role-aliases", a]) => {
                    of("iot:DescribeRoleAlias", arn(&format!("rolealias/{a}")))
                }
                ("POST", ["role-aliases", a]) => {
                    of("iot:CreateRoleAlias", arn(&format!("rolealias/{a}")))
                }
                ("PUT", ["role-aliases", a]) => {
                    of("iot:UpdateRoleAlias", arn(&format!("rolealias/{a}")))
                }
                ("DELETE", ["role-aliases", a]) => {
                    of("iot:DeleteRoleAlias", arn(&format!("rolealias/{a}")))
                }
                ("GET", ["policies"]) => of("iot:ListPolicies", "*"),
                ("GET", ["policies", p]) => of("iot:GetPolicy", arn(&format!("policy/{p}"))),
                ("POST", ["policies", p]) => of("iot:CreatePolicy", arn(&format!("policy/{p}"))),
                ("DELETE", ["policies", p]) => of("iot:DeletePolicy", arn(&format!("policy/{p}"))),
                ("GET", ["policies", p, "version"]) => {
                    of("iot:ListPolicyVersions", arn(&format!("policy/{p}")))
                }
                ("POST", ["policies", p, "version"]) => {
                    of("iot:CreatePolicyVersion", arn(&format!("policy/{p}")))
                }
                ("GET", ["policies", p, "version", _]) => {
                    of("iot:GetPolicyVersion", arn(&format!("policy/{p}")))
                }
                ("DELETE", ["policies", p, "version", _]) => {
                    of("iot:DeletePolicyVersion", arn(&format!("policy/{p}")))
                }
                ("POST", ["policy-targets", p]) => {
                    of("iot:ListTargetsForPolicy", arn(&format!("policy/{p}")))
                }
                ("PUT", ["target-policies", _]) => of("iot:AttachPolicy", target_of()?),
                ("POST", ["target-policies", _]) => of("iot:DetachPolicy", target_of()?),
                ("POST", ["attached-policies", t]) => of("iot:ListAttachedPolicies", t.to_string()),
                ("GET", ["certificates"]) => of("iot:ListCertificates", "*"),
                ("GET", ["certificates", id]) => {
                    of("iot:DescribeCertificate", arn(&format!("cert/{id}")))
                }
                ("PUT", ["certificates", id]) => {
                    of("iot:UpdateCertificate", arn(&format!("cert/{id}")))
                }
                ("DELETE", ["certificates", id]) => {
                    of("iot:DeleteCertificate", arn(&format!("cert/{id}")))
                }
                ("POST", ["keys-and-certificate"]) => of("iot:CreateKeysAndCertificate", "*"),
                ("GET", ["thing-groups", g]) => {
                    of("iot:DescribeThingGroup", arn(&format!("thinggroup/{g}")))
                }
                ("GET", ["endpoint"]) => of("iot:DescribeEndpoint", "*"),
                ("GET", ["things"]) => of("iot:ListThings", "*"),
                ("GET", ["things", t]) => of("iot:DescribeThing", arn(&format!("thing/{t}"))),
                ("POST", ["things", t]) => of("iot:CreateThing", arn(&format!("thing/{t}"))),
                ("DELETE", ["things", t]) => of("iot:DeleteThing", arn(&format!("thing/{t}"))),
                ("PUT", ["things", t, "principals"]) => {
                    of("iot:AttachThingPrincipal", arn(&format!("thing/{t}")))
                }
                ("DELETE", ["things", t, "principals"]) => {
                    of("iot:DetachThingPrincipal", arn(&format!("thing/{t}")))
                }
                ("GET", ["things", t, "principals"]) => {
                    of("iot:ListThingPrincipals", arn(&format!("thing/{t}")))
                }
                ("GET", ["things", t, "thing-groups"]) => {
                    of("iot:ListThingGroupsForThing", arn(&format!("thing/{t}")))
                }
                ("GET", ["principals", "things"]) => of(
                    "iot:ListPrincipalThings",
                    headers
                        .get("x-amzn-principal")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("*")
                        .to_string(),
                ),
                _ => None,
            }
        }
        "lambda" => {
            let function = |f: &str| {
                let name = f.rsplit(':').next().unwrap_or(f);
                format!("arn:{partition}:lambda:{region}:{account}:function:{name}")
            };
            match (method.as_str(), segs.as_slice()) {
                ("GET", ["2015-03-31", "functions", f, "policy"]) => {
                    of("lambda:GetPolicy", function(f))
                }
                ("POST", ["2015-03-31", "functions", f, "policy"]) => {
                    of("lambda:AddPermission", function(f))
                }
                ("DELETE", ["2015-03-31", "functions", f, "policy", _]) => {
                    of("lambda:RemovePermission", function(f))
                }
                ("GET", ["2015-03-31", "functions", f]) => of("lambda:GetFunction", function(f)),
                ("POST", ["2015-03-31", "functions", f, "invocations"]) => {
                    of("lambda:InvokeFunction", function(f))
                }
                _ => None,
            }
        }
        "s3" => {
            let has = |k: &str| {
                query
                    .split('&')
                    .any(|kv| kv == k || kv.starts_with(&format!("{k}=")))
            };
            let bucket = |b: &str| format!("arn:{partition}:s3:::{b}");
            match (method.as_str(), segs.as_slice()) {
                ("GET", []) => of("s3:ListAllMyBuckets", "*"),
                ("HEAD", [b]) => of("s3:ListBucket", bucket(b)),
                ("GET", [b]) if has("policy") => of("s3:GetBucketPolicy", bucket(b)),
                ("GET", [b]) if has("encryption") => of("s3:GetEncryptionConfiguration", bucket(b)),
                ("GET", [b]) if has("location") => of("s3:GetBucketLocation", bucket(b)),
                ("GET", [b]) => of("s3:ListBucket", bucket(b)),
                ("GET" | "HEAD", [b, key @ ..]) => {
                    of("s3:GetObject", format!("{}/{}", bucket(b), key.join("/")))
                }
                _ => None,
            }
        }
        "kms" => {
            let target = headers.get("x-amz-target")?.to_str().ok()?;
            let action = target.strip_prefix("TrentService.")?;
            let v: Value = serde_json::from_slice(body).ok()?;
            let key = v["KeyId"].as_str().unwrap_or("*");
            let resource = if key.starts_with("arn:") && key.contains(":key/") {
                key.to_string()
            } else if key.contains("alias/") {
                // an alias is authorized as the key it names
                match admin.kms().describe_key().key_id(key).send().await {
                    Ok(d) => d
                        .key_metadata()
                        .and_then(|m| m.arn())
                        .unwrap_or(key)
                        .to_string(),
                    Err(_) => key.to_string(),
                }
            } else if key == "*" {
                "*".to_string()
            } else {
                format!("arn:{partition}:kms:{region}:{account}:key/{key}")
            };
            of(&format!("kms:{action}"), resource)
        }
        "organizations" => {
            let target = headers.get("x-amz-target")?.to_str().ok()?;
            let action = target.split('.').nth(1)?;
            // DescribeOrganization names no resource
            of(&format!("organizations:{action}"), "*")
        }
        "apigateway" => of(
            &format!("apigateway:{}", method.as_str()),
            format!("arn:{partition}:apigateway:{region}::{path}"),
        ),
        _ => None,
    }
}

/// Whether the sessions of role `role_name` in the account of `admin` are enforced.
pub async fn enforced(admin: &Clients, role_name: &str) -> bool {
    match admin
        .iam()
        .list_role_tags()
        .role_name(role_name)
        .send()
        .await
    {
        Ok(t) => t
            .tags()
            .iter()
            .any(|t| t.key() == ENFORCE_TAG && t.value().eq_ignore_ascii_case("true")),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin() -> Clients {
        Clients {
            account: "111111111111".into(),
            sdk: aws_config::SdkConfig::builder()
                .behavior_version(aws_config::BehaviorVersion::latest())
                .build(),
        }
    }

    async fn map(service: &str, method: &str, uri: &str, body: &str) -> Option<Authorized> {
        action_of(
            &admin(),
            service,
            &method.parse().unwrap(),
            &uri.parse().unwrap(),
            &hyper::HeaderMap::new(),
            &[],
            body.as_bytes(),
            "eu-west-1",
            "111111111111",
        )
        .await
    }

    #[tokio::test]
    async fn a_role_alias_needs_pass_role_on_the_role_it_hands_out() {
        let all = authorized_as(
            &admin(),
            "iot",
            &hyper::Method::POST,
            &"/role-aliases/a".parse().unwrap(),
            &hyper::HeaderMap::new(),
            &[],
            br#"{"roleArn":"arn:aws:iam::111111111111:role/r","credentialDurationSeconds":3600}"#,
            "eu-west-1",
            "111111111111",
        )
        .await
        .unwrap();
        assert_eq!(all[1].action, "iam:PassRole");
        assert_eq!(all[1].resource, "arn:aws:iam::111111111111:role/r");
        assert_eq!(all[1].context[0].1, "iot.amazonaws.com");
    }

    #[tokio::test]
    async fn rest_requests_map_to_their_actions_and_resources() {
        assert_eq!(
            map("iot", "POST", "/role-aliases/a", "").await,
            of(
                "iot:CreateRoleAlias",
                "arn:aws:iot:eu-west-1:111111111111:rolealias/a"
            )
        );
        assert_eq!(
            map(
                "iot",
                "PUT",
                "/target-policies/p",
                r#"{"target":"arn:aws:iot:eu-west-1:111111111111:cert/abc"}"#
            )
            .await,
            of(
                "iot:AttachPolicy",
                "arn:aws:iot:eu-west-1:111111111111:cert/abc"
            )
        );
        assert_eq!(
            map("lambda", "DELETE", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aeu-west-1%3A111111111111%3Afunction%3Af/policy/sid", "").await,
            of("lambda:RemovePermission", "arn:aws:lambda:eu-west-1:111111111111:function:f")
        );
        assert_eq!(
            map("s3", "GET", "/b?encryption", "").await,
            of("s3:GetEncryptionConfiguration", "arn:aws:s3:::b")
        );
        assert_eq!(
            map("s3", "HEAD", "/b/AWSLogs/x.gz", "").await,
            of("s3:GetObject", "arn:aws:s3:::b/AWSLogs/x.gz")
        );
        assert_eq!(map("iot", "PATCH", "/nothing", "").await, None);
    }
}
