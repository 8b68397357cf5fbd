//! xacct: plan, apply, check and verify cross-account access chains on AWS: a device's IoT
//! certificate or a workload's role, through a role in another account, to Lambda functions, API
//! Gateway methods and S3 objects.

pub mod apply;
pub use xacct_policy::arn;
pub mod aws;
pub mod chain;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod desired;
pub mod device;
pub mod import;
pub mod lint;
pub mod model;
pub mod output;
pub mod permissions;
pub mod plan;
pub mod policy;
pub mod targets;
pub mod verify;
