//! API Gateway's deployments, as AWS keeps them: a stage serves the API as it was when the stage's
//! deployment was created, and a change to the resource policy or to a method's authorization takes
//! effect only when a stage is deployed again. moto keeps no such snapshot (its export ignores the
//! stage and omits the policy and each method's authorization), so the gateway takes one at every
//! `CreateDeployment` and answers `GetDeployment` with `embed=apisummary` and the stage's export
//! from it, and the API emulator serves invocations from it. A deployment made before the sandbox
//! started (on a moto it did not start) is taken as the API is when first asked about.

use crate::aws::Clients;
use serde_json::{json, Map, Value};

/// One method of a deployment.
#[derive(Debug, Clone, PartialEq)]
pub struct DeployedMethod {
    pub path: String,
    pub http_method: String,
    pub authorization: String,
    pub resource_id: String,
}

/// What a deployment serves: the API's resource policy and its methods when it was created.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Deployment {
    pub policy: Option<String>,
    pub methods: Vec<DeployedMethod>,
}

/// `POST /restapis/{id}/deployments`: the API id.
pub fn create_request(method: &hyper::Method, path: &str) -> Option<String> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        (&hyper::Method::POST, ["restapis", id, "deployments"]) => Some(id.to_string()),
        _ => None,
    }
}

/// `GET /restapis/{id}/deployments/{deployment}?embed=apisummary`: (API id, deployment id).
pub fn summary_request(method: &hyper::Method, uri: &hyper::Uri) -> Option<(String, String)> {
    let segs: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let embed = uri
        .query()
        .unwrap_or("")
        .split('&')
        .any(|kv| kv == "embed=apisummary");
    match (method, segs.as_slice()) {
        (&hyper::Method::GET, ["restapis", id, "deployments", d]) if embed => {
            Some((id.to_string(), d.to_string()))
        }
        _ => None,
    }
}

/// `GET /restapis/{id}/stages/{stage}/exports/{type}`: (API id, stage, export type).
pub fn export_request(method: &hyper::Method, path: &str) -> Option<(String, String, String)> {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segs.as_slice()) {
        (&hyper::Method::GET, ["restapis", id, "stages", stage, "exports", kind]) => {
            Some((id.to_string(), stage.to_string(), kind.to_string()))
        }
        _ => None,
    }
}

/// The API as it is now: its resource policy and every method with its authorization.
pub async fn snapshot(c: &Clients, api_id: &str) -> Option<Deployment> {
    let gw = c.apigateway();
    let api = gw.get_rest_api().rest_api_id(api_id).send().await.ok()?;
    let resources: Vec<aws_sdk_apigateway::types::Resource> = gw
        .get_resources()
        .rest_api_id(api_id)
        .embed("methods")
        .into_paginator()
        .items()
        .send()
        .try_collect()
        .await
        .ok()?;
    let mut methods = Vec::new();
    for r in &resources {
        let (Some(id), Some(path)) = (r.id(), r.path()) else {
            continue;
        };
        for m in r
            .resource_methods()
            .map(|ms| ms.keys())
            .into_iter()
            .flatten()
        {
            // moto's embedded methods may lack the authorization: ask the method itself
            let auth = match gw
                .get_method()
                .rest_api_id(api_id)
                .resource_id(id)
                .http_method(m)
                .send()
                .await
            {
                Ok(got) => got.authorization_type().unwrap_or("NONE").to_string(),
                Err(_) => continue,
            };
            methods.push(DeployedMethod {
                path: path.to_string(),
                http_method: m.clone(),
                authorization: auth,
                resource_id: id.to_string(),
            });
        }
    }
    methods.sort_by(|a, b| (&a.path, &a.http_method).cmp(&(&b.path, &b.http_method)));
    Some(Deployment {
        policy: api
            .policy()
            .filter(|p| !p.trim().is_empty())
            .map(String::from),
        methods,
    })
}

/// `GetDeployment` with `embed=apisummary`, as API Gateway answers it.
pub fn summary_json(deployment_id: &str, d: &Deployment) -> Value {
    let mut summary: Map<String, Value> = Map::new();
    for m in &d.methods {
        let e = summary
            .entry(m.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        e[m.http_method.as_str()] =
            json!({"authorizationType": m.authorization, "apiKeyRequired": false});
    }
    json!({"id": deployment_id, "apiSummary": summary})
}

/// The stage's export (OpenAPI 3 with API Gateway extensions), as API Gateway writes it: the
/// deployed methods with their authorization, and the deployed resource policy.
pub fn export_json(api_id: &str, stage: &str, d: &Deployment) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for m in &d.methods {
        let op = paths
            .entry(m.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        let key = if m.http_method == "ANY" {
            "x-amazon-apigateway-any-method".to_string()
        } else {
            m.http_method.to_lowercase()
        };
        let mut o = json!({"responses": {}});
        if m.authorization == "AWS_IAM" {
            o["security"] = json!([{"sigv4": []}]);
        }
        op[key.as_str()] = o;
    }
    let mut doc = json!({
        "openapi": "3.0.1",
        "info": {"title": api_id, "version": stage},
        "servers": [{"variables": {"basePath": {"default": stage}}}],
        "paths": paths,
        "components": {"securitySchemes": {"sigv4": {
            "type": "apiKey", "name": "Authorization", "in": "header",
            "x-amazon-apigateway-authtype": "awsSigv4"}}},
    });
    if let Some(p) = &d.policy {
        doc["x-amazon-apigateway-policy"] =
            serde_json::from_str(p).unwrap_or_else(|_| Value::String(p.clone()));
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_recognised_by_method_and_path() {
        assert_eq!(
            create_request(&hyper::Method::POST, "/restapis/abc/deployments"),
            Some("abc".into())
        );
        assert_eq!(
            create_request(&hyper::Method::GET, "/restapis/abc/deployments"),
            None
        );
        let uri: hyper::Uri = "/restapis/abc/deployments/d1?embed=apisummary"
            .parse()
            .unwrap();
        assert_eq!(
            summary_request(&hyper::Method::GET, &uri),
            Some(("abc".into(), "d1".into()))
        );
        let plain: hyper::Uri = "/restapis/abc/deployments/d1".parse().unwrap();
        assert_eq!(summary_request(&hyper::Method::GET, &plain), None);
        assert_eq!(
            export_request(
                &hyper::Method::GET,
                "/restapis/abc/stages/prod/exports/oas30"
            ),
            Some(("abc".into(), "prod".into(), "oas30".into()))
        );
    }

    #[test]
    fn the_summary_and_the_export_carry_authorization_and_policy() {
        let d = Deployment {
            policy: Some(r#"{"Version":"2012-10-17","Statement":[]}"#.into()),
            methods: vec![DeployedMethod {
                path: "/orders".into(),
                http_method: "POST".into(),
                authorization: "AWS_IAM".into(),
                resource_id: "r1".into(),
            }],
        };
        let s = summary_json("d1", &d);
        assert_eq!(
            s["apiSummary"]["/orders"]["POST"]["authorizationType"],
            "AWS_IAM"
        );
        let x = export_json("abc", "prod", &d);
        assert_eq!(x["x-amazon-apigateway-policy"]["Version"], "2012-10-17");
        assert!(x["paths"]["/orders"]["post"]["security"].is_array());
    }
}
