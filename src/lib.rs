//! xacct: plan, apply, check and verify the chain that lets an AWS IoT device certificate invoke
//! Lambda functions in other accounts.

pub mod apply;
pub use xacct_policy::arn;
pub mod aws;
pub mod chain;
pub mod check;
pub mod cli;
pub mod commands;
pub mod config;
pub mod desired;
pub mod lint;
pub mod model;
pub mod output;
pub mod plan;
pub mod policy;
pub mod verify;
