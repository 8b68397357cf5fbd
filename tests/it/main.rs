//! xacct's integration tests: one test binary, so the crate and its test support are compiled and
//! linked once, and one moto server (and one `xacct sandbox up` on top of it) serves every test.
//! Each test makes its own random accounts, region, fleet and environment names, so tests share the
//! emulators without seeing each other; whatever a test switches on in the sandbox is per account.
//!
//! - `apply`: apply from empty, drift, saved plans, ownership, destroy;
//! - `bad_inputs`: the bad-input corpus under `tests/bad-inputs/` (no request reaches AWS);
//! - `check`: check, lint and policy eval against moto and offline;
//! - `device_creds`: creds' cache, serve-credentials, device clocks, in the sandbox;
//! - `devices`: the device side in the sandbox (gating, layouts, direct mode, device-config);
//! - `ecosystem`: the schema, init, completions, help examples;
//! - `import`: hand-built chains imported, adopted and released in the sandbox;
//! - `reliability`: faults and kills between xacct and moto (the injector);
//! - `signin`: credential_process and SSO profiles, no credentials at all;
//! - `snapshots`: whole human outputs (insta);
//! - `verify`: verify and creds in the sandbox, each link broken on its own;
//! - `workload`: `source:` chains (API Gateway, S3, KMS) in the sandbox.

mod common;

mod apply;
mod bad_inputs;
mod check;
mod device_creds;
mod devices;
mod ecosystem;
mod import;
mod permissions;
mod reliability;
mod signin;
mod snapshots;
mod verify;
mod workload;
