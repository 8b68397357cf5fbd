//! xacct's policy engine: what AWS does with a policy document (and the few other pieces of AWS's
//! behaviour both the proof and the sandbox need), and nothing of xacct's own.
//!
//! - [`document`]: decoding documents as AWS APIs return them, their canonical form (semantic
//!   comparison), and what a change of a document newly grants;
//! - [`eval`]: the offline evaluator of IAM and IoT policies (identity, resource, trust, boundary),
//!   including `xacct policy eval`'s batch input and output;
//! - [`context`]: the request context keys AWS sets for a request, built once for whoever evaluates
//!   (the proof and the sandbox's emulators alike);
//! - [`requests`]: for each kind of request of a chain, what AWS authorizes and with which keys;
//! - [`arn`]: the one parser and formatter of ARNs;
//! - [`routes`]: how API Gateway matches a request path to a resource.
//!
//! It depends on no other crate of the workspace, so the tool and the sandbox share AWS's behaviour
//! through it and nothing else. Its tests and corpus live beside it (`tests/corpus.rs`).

pub mod arn;
pub mod context;
pub mod document;
pub mod eval;
pub mod requests;
pub mod routes;
