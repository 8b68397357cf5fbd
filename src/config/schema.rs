//! The environment file as written: the serde types that parse it (unknown keys refused) and the
//! JSON Schema generated from them. Validation turns these into the model (`config`'s `Config`).

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::fmt;

/// An xacct environment file: one IoT account and the environments whose Lambda functions its devices
/// may invoke.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "xacct environment file")]
#[schemars(extend("oneOf" = [{"required": ["iot"]}, {"required": ["source"]}]))]
pub struct RawFile {
    /// Prefix of every name xacct manages (roles, alias, IoT policy); also the value of the
    /// `xacct:fleet` ownership tag.
    #[schemars(length(min = 1, max = 57), regex(pattern = r"^[A-Za-z0-9+=,.@_-]+$"))]
    pub(crate) fleet: String,
    /// The AWS region of the IoT credentials provider, the role alias and the functions.
    #[schemars(
        regex(pattern = r"^[a-z]{2}(-[a-z]+)+-[0-9]+$"),
        example = "ap-northeast-1"
    )]
    pub(crate) region: String,
    /// The account that holds the devices' certificates, the IoT role, role alias and IoT policy
    /// (the chain starts at a device certificate). Exactly one of `iot` and `source`.
    #[serde(default)]
    pub(crate) iot: Option<RawIot>,
    /// An existing workload role (a Lambda execution role, an ECS task or EC2 instance role) the
    /// chain starts at. Exactly one of `iot` and `source`.
    #[serde(default)]
    pub(crate) source: Option<RawSource>,
    /// The organization's management account (or a delegated administrator): with it, `check` reads
    /// the service and resource control policies of every account of the chain.
    #[serde(default)]
    pub(crate) organization: Option<RawOrganization>,
    /// The target environments, by name.
    #[schemars(extend("minProperties" = 1))]
    pub(crate) environments: IndexMap<String, RawTarget>,
}

/// The IoT account.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawIot {
    /// The 12-digit account id, quoted.
    pub(crate) account: AccountField,
    /// AWS profile for this account (default: the standard credential chain).
    #[serde(default)]
    pub(crate) profile: Option<String>,
    /// Role assumed in this account, from the profile or the default chain.
    #[serde(default)]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"))]
    pub(crate) assume_role: Option<String>,
    /// The IoT role's name (default: `<fleet>-device`).
    #[serde(default)]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9+=,.@_-]+$"))]
    pub(crate) role_name: Option<String>,
    /// The role alias's name (default: `<fleet>-device`).
    #[serde(default)]
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[A-Za-z0-9=,@_-]+$"))]
    pub(crate) role_alias: Option<String>,
    /// The IoT policy's name (default: `<fleet>-device-credentials`).
    #[serde(default)]
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[A-Za-z0-9+=,.@_-]+$"))]
    pub(crate) policy_name: Option<String>,
    /// Lifetime of the credentials the alias issues, in seconds; the IoT role's MaxSessionDuration
    /// follows it.
    #[serde(default)]
    #[schemars(range(min = 900, max = 43200), extend("default" = 3600))]
    pub(crate) credential_duration: Option<i64>,
    /// The confused-deputy guard in the IoT role's trust: the credentials provider must act for this
    /// role alias (`alias`, default), for any role alias of the IoT account (`account`), or only for
    /// the IoT account (`none`). `aws:SourceAccount` is required in every case.
    #[serde(default)]
    pub(crate) source_arn_condition: Option<SourceArnCondition>,
    /// Ids of the certificates that get the fleet's IoT policy attached.
    #[serde(default)]
    #[schemars(extend("default" = []))]
    pub(crate) certificates: Vec<CertificateId>,
    /// The IoT credentials provider endpoint (`host[:port]`, as `aws iot describe-endpoint
    /// --endpoint-type iot:CredentialProvider` prints it): `verify`, `creds` and `device-config` use it
    /// without any AWS call (default: DescribeEndpoint).
    #[serde(default)]
    #[schemars(regex(pattern = r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$"))]
    pub(crate) credentials_endpoint: Option<String>,
}

/// The existing role a workload chain starts at. xacct only adds one inline policy to it.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSource {
    /// The 12-digit account id of the role, quoted.
    pub(crate) account: AccountField,
    /// The role's ARN (it must exist; it may have a path), in `account`.
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"))]
    pub(crate) role: String,
    /// AWS profile for this account (default: the standard credential chain).
    #[serde(default)]
    pub(crate) profile: Option<String>,
    /// Role assumed in this account, from the profile or the default chain.
    #[serde(default)]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"))]
    pub(crate) assume_role: Option<String>,
}

/// The access to the organization's management account or a delegated administrator, which alone
/// can read every account's place in the organization and the policies attached along it.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOrganization {
    /// The 12-digit id of the management (or delegated administrator) account, quoted.
    pub(crate) account: AccountField,
    /// AWS profile for this account (default: the standard credential chain).
    #[serde(default)]
    pub(crate) profile: Option<String>,
    /// Role assumed in this account, from the profile or the default chain.
    #[serde(default)]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"))]
    pub(crate) assume_role: Option<String>,
}

/// Which `aws:SourceArn` the IoT role's trust requires of the credentials provider.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum SourceArnCondition {
    /// `ArnEquals` the fleet's role alias ARN.
    #[default]
    Alias,
    /// `ArnLike` `arn:PARTITION:iot:REGION:ACCOUNT:rolealias/*`: any role alias of the IoT account.
    Account,
    /// No `aws:SourceArn` condition (`aws:SourceAccount` still applies).
    None,
}

/// An IoT certificate id: 64 lowercase hex characters.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct CertificateId(#[schemars(regex(pattern = r"^[0-9a-f]{64}$"))] pub(crate) String);

/// One target environment.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("anyOf" = [
    {"required": ["functions"], "properties": {"functions": {"minItems": 1}}},
    {"required": ["apis"], "properties": {"apis": {"minItems": 1}}},
    {"required": ["objects"], "properties": {"objects": {"minItems": 1}}}
]))]
pub struct RawTarget {
    /// The 12-digit account id, quoted.
    pub(crate) account: AccountField,
    /// AWS profile for this account (default: the standard credential chain).
    #[serde(default)]
    pub(crate) profile: Option<String>,
    /// Role assumed in this account, from the profile or the default chain.
    #[serde(default)]
    #[schemars(regex(pattern = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$"))]
    pub(crate) assume_role: Option<String>,
    /// The target role's name (default: `<fleet>-<environment>`).
    #[serde(default)]
    #[schemars(length(min = 1, max = 64), regex(pattern = r"^[A-Za-z0-9+=,.@_-]+$"))]
    pub(crate) role_name: Option<String>,
    /// The Lambda functions the chain may invoke: names, or ARNs in this environment's account and
    /// region. Each environment lists at least one of `functions`, `apis`, `objects`.
    #[serde(default)]
    pub(crate) functions: Vec<String>,
    /// API Gateway methods with IAM authorization the chain may call (`execute-api:Invoke`):
    /// `arn:PARTITION:execute-api:REGION:ACCOUNT:API-ID/STAGE/METHOD/PATH`, or the short form
    /// `API-ID/STAGE/METHOD/PATH` (this environment's account and region). METHOD may be `*`; a `*`
    /// in PATH matches any characters.
    #[serde(default)]
    #[schemars(inner(regex(
        pattern = r"^(arn:aws[a-z-]*:execute-api:[a-z0-9-]+:[0-9]{12}:)?[A-Za-z0-9]+/[A-Za-z0-9_-]+/(GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS|\*)/.*$"
    )))]
    pub(crate) apis: Vec<String>,
    /// S3 objects the chain may read (`s3:GetObject`): `arn:PARTITION:s3:::BUCKET/KEY`, or the short
    /// form `BUCKET/KEY`; a KEY ending in `*` is a prefix. The buckets belong to this environment's
    /// account.
    #[serde(default)]
    #[schemars(inner(regex(
        pattern = r"^(arn:aws[a-z-]*:s3:::)?[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$"
    )))]
    pub(crate) objects: Vec<String>,
    /// Session length when a device assumes the target role; role chaining caps it at 3600 s.
    #[serde(default)]
    #[schemars(range(min = 900, max = 3600), extend("default" = 3600))]
    pub(crate) session_duration: Option<i64>,
    /// How devices reach the functions: `assume_role` (default: the IoT role assumes this
    /// environment's target role) or `direct` (no target role: each function's resource policy gets
    /// one statement, id `xacct-<fleet>`, naming the exact IoT role; `iot:` files, functions only).
    #[serde(default)]
    pub(crate) mode: Option<TargetMode>,
    /// Only devices whose thing is in this thing group (child groups count), or of this thing type,
    /// reach this environment; enforced by AWS. Gating gives every environment its own role alias
    /// (`<fleet>-<env>`), IoT role and IoT policy. `iot:` files only.
    #[serde(default)]
    pub(crate) devices: Option<RawDevices>,
}

/// Which devices reach an environment: exactly one of `thing_group` and `thing_type`.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(extend("oneOf" = [{"required": ["thing_group"]}, {"required": ["thing_type"]}]))]
pub struct RawDevices {
    /// A thing group's name: its things and the things of its child groups.
    #[serde(default)]
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[A-Za-z0-9:_-]+$"))]
    pub(crate) thing_group: Option<String>,
    /// A thing type's name.
    #[serde(default)]
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[A-Za-z0-9:_-]+$"))]
    pub(crate) thing_type: Option<String>,
}

/// How the devices of an environment reach its functions.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TargetMode {
    /// The IoT role assumes the environment's target role, which invokes.
    #[default]
    AssumeRole,
    /// The IoT role's session invokes directly, allowed by each function's resource policy.
    Direct,
}

/// Which devices an environment admits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Devices {
    ThingGroup(String),
    ThingType(String),
}

impl fmt::Display for Devices {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Devices::ThingGroup(g) => write!(f, "thing group {g}"),
            Devices::ThingType(t) => write!(f, "thing type {t}"),
        }
    }
}

/// The JSON Schema (draft 2020-12) of the environment file, generated from the types that parse it.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(RawFile)).unwrap_or_default()
}

/// An account id as written: a string, or a number (refused with a hint to quote it, since YAML
/// drops leading zeros and may read them as octal).
#[derive(Debug)]
pub(crate) enum AccountField {
    Text(String),
    Number(String),
}

impl schemars::JsonSchema for AccountField {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "AccountId".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^[0-9]{12}$",
            "description": "A 12-digit AWS account id, quoted (YAML drops leading zeros of numbers)."
        })
    }
}

impl<'de> Deserialize<'de> for AccountField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = AccountField;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a 12-digit AWS account id in quotes")
            }
            fn visit_str<E>(self, v: &str) -> Result<AccountField, E> {
                Ok(AccountField::Text(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<AccountField, E> {
                Ok(AccountField::Number(v.to_string()))
            }
            fn visit_i64<E>(self, v: i64) -> Result<AccountField, E> {
                Ok(AccountField::Number(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}
