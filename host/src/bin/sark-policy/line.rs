//! One request line in, one decision line out.

use sark_policy_host::{Authorizer, Request, Sensitivity};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::ops::Range;
use std::time::Duration;

/// One request line: `{"user", "action", "resource", "context"?,
/// "sensitivity"?, "ttl_seconds"?}`. Strings borrow from the line unless
/// they hold escapes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Line<'a> {
    #[serde(borrow)]
    user: Cow<'a, str>,
    #[serde(borrow)]
    action: Cow<'a, str>,
    #[serde(borrow)]
    resource: Cow<'a, str>,
    #[serde(default)]
    context: Option<serde_json::Value>,
    #[serde(default, borrow)]
    sensitivity: Option<Cow<'a, str>>,
    #[serde(default)]
    ttl_seconds: Option<f64>,
}

/// A request line, checked and ready to decide.
struct Parsed<'a> {
    line: Line<'a>,
    context: String,
    sensitivity: Option<Sensitivity>,
    ttl: Option<Duration>,
}

impl<'a> Parsed<'a> {
    fn new(text: &'a str) -> Result<Self, String> {
        let mut line: Line<'a> =
            serde_json::from_str(text).map_err(|e| format!("bad request: {e}"))?;
        let sensitivity = line
            .sensitivity
            .as_deref()
            .map(str::parse::<Sensitivity>)
            .transpose()?;
        let ttl = match line.ttl_seconds {
            Some(s) if s.is_finite() && s >= 0.0 => Some(Duration::from_secs_f64(s)),
            Some(s) => return Err(format!("bad ttl_seconds {s}")),
            None => None,
        };
        let context = line
            .context
            .take()
            .map(|c| c.to_string())
            .unwrap_or_default();
        Ok(Parsed {
            line,
            context,
            sensitivity,
            ttl,
        })
    }

    fn request(&self) -> Request<'_> {
        Request {
            user: &self.line.user,
            action: &self.line.action,
            resource: &self.line.resource,
            context: &self.context,
            sensitivity: self.sensitivity,
            ttl: self.ttl,
        }
    }
}

/// A request line parsed with its strings copied into a buffer shared by
/// many lines (a batch's), so handing it to another thread moves no
/// allocation of its own.
pub struct Stored {
    user: Range<usize>,
    action: Range<usize>,
    resource: Range<usize>,
    context: Range<usize>,
    sensitivity: Option<Sensitivity>,
    ttl: Option<Duration>,
}

impl Stored {
    /// Parses the request line `text`, appending its strings to `strings`.
    pub fn parse(text: &str, strings: &mut String) -> Result<Stored, String> {
        let p = Parsed::new(text)?;
        let mut put = |s: &str| {
            let start = strings.len();
            strings.push_str(s);
            start..strings.len()
        };
        Ok(Stored {
            user: put(&p.line.user),
            action: put(&p.line.action),
            resource: put(&p.line.resource),
            context: put(&p.context),
            sensitivity: p.sensitivity,
            ttl: p.ttl,
        })
    }

    /// The request, its strings in `strings` (the buffer `parse` was given).
    pub fn request<'a>(&self, strings: &'a str) -> Request<'a> {
        Request {
            user: &strings[self.user.clone()],
            action: &strings[self.action.clone()],
            resource: &strings[self.resource.clone()],
            context: &strings[self.context.clone()],
            sensitivity: self.sensitivity,
            ttl: self.ttl,
        }
    }
}

/// A decision line. The fields are in the order `serde_json::Map` (sorted)
/// printed them when this line was built as a `Value`; `decision_id` only
/// with a decision log.
#[derive(Serialize)]
struct Out<'a> {
    action: &'a str,
    allowed: bool,
    cached: bool,
    decision: &'a serde_json::Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    decision_id: Option<&'a str>,
    latency_us: f64,
    resource: &'a str,
    undefined: bool,
    user: &'a str,
}

/// Decides the request line `text` and appends its decision line, `\n`
/// included, to `out`; on an error `out` is left as it was.
pub fn decide_into(authz: &Authorizer, text: &str, out: &mut Vec<u8>) -> Result<(), String> {
    decide_request(authz, &Parsed::new(text)?.request(), out)
}

/// Decides `req` and appends its decision line, `\n` included, to `out`;
/// on an error `out` is left as it was.
pub fn decide_request(
    authz: &Authorizer,
    req: &Request<'_>,
    out: &mut Vec<u8>,
) -> Result<(), String> {
    let d = authz.decide(req).map_err(|e| e.to_string())?;
    let decision = match &d.value {
        Some(v) => serde_json::from_str(v).map_err(|e| format!("decision is not JSON: {e}"))?,
        None => serde_json::Value::Null,
    };
    let line = Out {
        action: req.action,
        allowed: d.allowed(),
        cached: d.cached,
        decision: &decision,
        decision_id: d.decision_id.as_deref(),
        latency_us: (d.latency.as_secs_f64() * 1e7).round() / 10.0,
        resource: req.resource,
        undefined: d.value.is_none(),
        user: req.user,
    };
    let len = out.len();
    if let Err(e) = serde_json::to_writer(&mut *out, &line) {
        out.truncate(len);
        return Err(format!("printing the decision: {e}"));
    }
    out.push(b'\n');
    Ok(())
}
