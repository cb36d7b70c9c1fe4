//! The decision: a policy result (a boolean or opa-envoy-plugin's object)
//! read into what the filter does to the request and the response.

use serde_json::Value;

/// Headers as `(name, value)` pairs, in the order the policy gave them.
pub type Headers = Vec<(String, String)>;

/// What to do with one request.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// Let the request through.
    pub allowed: bool,
    /// Allowed: added to the upstream request. Denied: on the local reply.
    pub headers: Headers,
    /// Allowed: added to the response sent downstream.
    pub response_headers_to_add: Headers,
    /// Allowed: removed from the upstream request.
    pub request_headers_to_remove: Vec<String>,
    /// Denied: the status of the local reply (else the configured one).
    pub http_status: Option<u32>,
    /// Denied: the body of the local reply.
    pub body: String,
}

impl Decision {
    /// Reads a policy result given as JSON text; the error says what is wrong
    /// with its shape.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|e| format!("decision is not JSON: {e}"))?;
        Self::from_value(&value)
    }

    /// Reads a policy result: `true`/`false`, or an object with `allowed`.
    pub fn from_value(value: &Value) -> Result<Self, String> {
        let object = match value {
            Value::Bool(allowed) => {
                return Ok(Self {
                    allowed: *allowed,
                    ..Self::default()
                });
            }
            Value::Object(o) => o,
            other => {
                return Err(format!(
                    "decision must be a boolean or an object, got {other}"
                ));
            }
        };
        let allowed = match object.get("allowed") {
            Some(Value::Bool(b)) => *b,
            Some(other) => return Err(format!("\"allowed\" must be a boolean, got {other}")),
            None => return Err("decision object has no \"allowed\"".into()),
        };
        let http_status = match object.get("http_status") {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| (200..=599).contains(n))
                    .ok_or_else(|| format!("\"http_status\" must be 200-599, got {v}"))?,
            ),
        };
        let body = match object.get("body") {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => return Err(format!("\"body\" must be a string, got {other}")),
        };
        let request_headers_to_remove = match object.get("request_headers_to_remove") {
            None => Vec::new(),
            Some(Value::Array(names)) => names
                .iter()
                .map(|n| {
                    n.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| format!("header name must be a string, got {n}"))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(format!(
                    "\"request_headers_to_remove\" must be a list, got {other}"
                ));
            }
        };
        Ok(Self {
            allowed,
            headers: headers(object.get("headers"), "headers")?,
            response_headers_to_add: headers(
                object.get("response_headers_to_add"),
                "response_headers_to_add",
            )?,
            request_headers_to_remove,
            http_status,
            body,
        })
    }
}

/// Headers as opa-envoy-plugin takes them: an object of name to a string or
/// a list of strings, or a list of such objects.
fn headers(value: Option<&Value>, field: &str) -> Result<Headers, String> {
    let mut out = Vec::new();
    match value {
        None => {}
        Some(Value::Object(_)) => push_object(value, field, &mut out)?,
        Some(Value::Array(list)) => {
            for item in list {
                push_object(Some(item), field, &mut out)?;
            }
        }
        Some(other) => return Err(format!("\"{field}\" must be an object, got {other}")),
    }
    Ok(out)
}

fn push_object(value: Option<&Value>, field: &str, out: &mut Headers) -> Result<(), String> {
    let Some(Value::Object(object)) = value else {
        return Err(format!("\"{field}\" items must be objects"));
    };
    for (name, v) in object {
        match v {
            Value::String(s) => out.push((name.clone(), s.clone())),
            Value::Array(values) => {
                for item in values {
                    let s = item.as_str().ok_or_else(|| {
                        format!("\"{field}\".{name} values must be strings, got {item}")
                    })?;
                    out.push((name.clone(), s.to_owned()));
                }
            }
            other => {
                return Err(format!(
                    "\"{field}\".{name} must be a string or a list, got {other}"
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
