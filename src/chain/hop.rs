//! The hops of a chain, named once. `check` proves each hop from the documents, `verify` performs it
//! live, and both report it under the same name (`--json`: snake_case, in reports of
//! `format_version` [`FORMAT_VERSION`]; the human tables: kebab-case). `check` may show the finer
//! parts of a hop ([`Part`]) within it, never as hops of their own. A leaf: it names, it imports
//! nothing of the tool.

use serde::{Deserialize, Serialize};

/// The version of the `--json` reports of `check` and `verify` (2: one set of hop names for both).
pub const FORMAT_VERSION: &str = "2";

/// One hop of a chain, in the order a chain makes them.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Hop {
    /// A device: certificate → IoT credentials provider → the IoT role's session.
    Credentials,
    /// A workload: the source role's session (the workload's own).
    Source,
    /// `sts:AssumeRole` into the environment's target role.
    AssumeRole,
    /// `lambda:InvokeFunction` on the environment's functions.
    Invoke,
    /// `execute-api:Invoke` on the environment's API methods (SigV4).
    CallApi,
    /// `s3:GetObject` (and `kms:Decrypt`) on the environment's objects.
    GetObject,
}

impl Hop {
    pub const ALL: [Hop; 6] = [
        Hop::Credentials,
        Hop::Source,
        Hop::AssumeRole,
        Hop::Invoke,
        Hop::CallApi,
        Hop::GetObject,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Hop::Credentials => "credentials",
            Hop::Source => "source",
            Hop::AssumeRole => "assume-role",
            Hop::Invoke => "invoke",
            Hop::CallApi => "call-api",
            Hop::GetObject => "get-object",
        }
    }
}

/// A part of a hop that `check` proves on its own: the IoT policy, the alias and the IoT role's
/// trust within `credentials`; the caller's policy and the target's trust within `assume_role`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[serde(rename_all = "snake_case")]
pub enum Part {
    IotPolicy,
    RoleAlias,
    IotTrust,
    SourcePolicy,
    TargetTrust,
}

impl Part {
    pub fn title(self) -> &'static str {
        match self {
            Part::IotPolicy => "iot-policy",
            Part::RoleAlias => "role-alias",
            Part::IotTrust => "iot-trust",
            Part::SourcePolicy => "source-policy",
            Part::TargetTrust => "target-trust",
        }
    }
}
