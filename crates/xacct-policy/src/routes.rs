//! How API Gateway matches a request to a resource of a REST API: AWS's behaviour, shared by the
//! proof and the sandbox's API Gateway emulator.

/// Does an API Gateway resource path (`/orders/{id}`, `/{proxy+}`) serve the request path `path`
/// (no leading `/`)?
pub fn serves(resource_path: &str, path: &str) -> bool {
    let res: Vec<&str> = resource_path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let req: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    for (i, seg) in res.iter().enumerate() {
        if seg.starts_with('{') && seg.ends_with("+}") {
            return req.len() > i;
        }
        match req.get(i) {
            None => return false,
            Some(r) if seg.starts_with('{') && seg.ends_with('}') => {
                let _ = r;
            }
            Some(r) if r == seg => {}
            Some(_) => return false,
        }
    }
    req.len() == res.len()
}

#[cfg(test)]
mod tests {
    use super::serves;

    #[test]
    fn routes_match_as_api_gateway_serves_them() {
        assert!(serves("/orders/{proxy+}", "orders/verify/more"));
        assert!(!serves("/orders/{proxy+}", "orders"));
        assert!(serves("/orders/{id}", "orders/17"));
        assert!(!serves("/orders/{id}", "orders/17/lines"));
        assert!(serves("/", ""));
        assert!(!serves("/orders", "invoices"));
    }
}
