//! Requests with arbitrary fields and contexts through `authorizer::decide`:
//! the rule sees exactly the request, a repeat is a hit under the same key,
//! the displayed key is a prefix of the stored one, and two different
//! requests never share a stored key.

use arbitrary::Arbitrary;
use sark_policy_core::{DecisionCache, Engine, Request, authorizer};
use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Arbitrary, Debug)]
pub struct Req {
    pub user: String,
    pub action: String,
    pub resource: String,
    pub context: Vec<(String, Ctx)>,
}

#[derive(Arbitrary, Debug)]
pub enum Ctx {
    Null,
    Bool(bool),
    Int(i32),
    Text(String),
    List(Vec<u8>),
}

impl Ctx {
    fn json(&self) -> serde_json::Value {
        match self {
            Ctx::Null => serde_json::Value::Null,
            Ctx::Bool(b) => (*b).into(),
            Ctx::Int(i) => (*i).into(),
            Ctx::Text(s) => s.as_str().into(),
            Ctx::List(v) => v.iter().map(|&b| serde_json::Value::from(b)).collect(),
        }
    }
}

static ENGINE: Mutex<Option<Engine>> = Mutex::new(None);

/// One input: panics when a check fails.
pub fn run(reqs: Vec<Req>) {
    let mut slot = ENGINE.lock().unwrap_or_else(|p| p.into_inner());
    let engine = slot.get_or_insert_with(|| {
        let mut e = Engine::new();
        e.add_policy("fz.rego", "package fz\nv := input")
            .expect("policy compiles");
        e
    });
    let mut cache = DecisionCache::new(64).expect("capacity");
    let mut owners: HashMap<String, serde_json::Value> = HashMap::new();
    for r in reqs.iter().take(16) {
        let context: serde_json::Map<String, serde_json::Value> = r
            .context
            .iter()
            .map(|(k, v)| (k.clone(), v.json()))
            .collect();
        let context_text = serde_json::to_string(&context).expect("prints");
        let req = Request {
            user: &r.user,
            action: &r.action,
            resource: &r.resource,
            context: &context_text,
        };
        let first = authorizer::decide(engine, &mut cache, "data.fz.v", &req, 0, 1000)
            .expect("a well-formed request decides");
        let expected = serde_json::json!({
            "user": r.user, "action": r.action, "resource": r.resource, "context": context,
        });
        let seen: serde_json::Value =
            serde_json::from_str(first.value.as_deref().expect("defined")).expect("JSON");
        assert_eq!(seen, expected, "the rule sees the request");
        let second = authorizer::decide(engine, &mut cache, "data.fz.v", &req, 1, 1000)
            .expect("decides again");
        assert!(second.cached, "a repeat is a hit");
        assert_eq!(
            (second.key.as_str(), &second.value),
            (first.key.as_str(), &first.value)
        );
        let shown = authorizer::cache_key(&engine.limits(), &req).expect("key");
        assert!(first.key.starts_with(&shown), "{} vs {shown}", first.key);
        if let Some(owner) = owners.insert(first.key.clone(), expected.clone()) {
            assert_eq!(owner, expected, "two requests share the key {}", first.key);
        }
    }
}
