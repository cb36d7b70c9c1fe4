// Copyright (c) Microsoft Corporation.
// Licensed under the MIT License.

#![allow(clippy::pattern_type_mismatch)]

use crate::ast::{Expr, Ref};
use crate::builtins;
use crate::builtins::utils::{enforce_limit, ensure_args_count, ensure_object};
use crate::lexer::Span;
use crate::value::Object;
use crate::value::Value;
use crate::*;

use alloc::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Result};

pub fn register(m: &mut builtins::BuiltinsMap<&'static str, builtins::BuiltinFcn>) {
    m.insert("graph.reachable", (reachable, 2));
    m.insert("graph.reachable_paths", (reachable_paths, 2));
    m.insert("walk", (walk, 1));
}

fn reachable(span: &Span, params: &[Ref<Expr>], args: &[Value], strict: bool) -> Result<Value> {
    let name = "graph.reachable";
    ensure_args_count(span, name, params, args, 2)?;

    let graph = ensure_object(name, &params[0], args[0].clone())?;
    let mut worklist = vec![];

    match &args[1] {
        Value::Array(arr) => {
            for node in arr.iter() {
                worklist.push(node.clone());
                // Guard worklist growth when seeding traversal from an array.
                enforce_limit()?;
            }
        }
        Value::Set(set) => {
            for node in set.iter() {
                worklist.push(node.clone());
                // Guard worklist growth when seeding traversal from a set.
                enforce_limit()?;
            }
        }
        _ if strict => bail!(params[1].span().error("initial vertices must be array/set")),
        _ => return Ok(Value::Undefined),
    }

    let mut reachable = BTreeSet::new();
    while let Some(v) = worklist.pop() {
        if reachable.contains(&v) {
            continue;
        }

        match graph.get(&v) {
            Some(Value::Array(arr)) => {
                for neighbor in arr.iter() {
                    worklist.push(neighbor.clone());
                    // Guard worklist growth when enqueuing array neighbors.
                    enforce_limit()?;
                }
            }
            Some(Value::Set(set)) => {
                for neighbor in set.iter() {
                    worklist.push(neighbor.clone());
                    // Guard worklist growth when enqueuing set neighbors.
                    enforce_limit()?;
                }
            }
            Some(_) => (),
            _ => continue,
        }

        reachable.insert(v);
        // Guard reachable set size as discovered vertices accumulate.
        enforce_limit()?;
    }

    Ok(Value::from_set(reachable))
}

/// The neighbors of a vertex: the elements of an array or set; none for
/// any other value (OPA's `foreachVertex` / `numberOfEdges`).
fn neighbors(edges: &Value) -> Vec<&Value> {
    match edges {
        Value::Array(arr) => arr.iter().collect(),
        Value::Set(set) => set.iter().collect(),
        _ => Vec::new(),
    }
}

/// OPA's `builtinReachablePaths`: from each initial vertex in the graph,
/// every path that ends at a vertex without neighbors, at a neighbor not in
/// the graph (which the path leaves out) or before a vertex already on the
/// path. A vertex whose neighbors are not an array or set (`{}`, a string)
/// has none; regorus failed on it, so the call was undefined. As in OPA, a
/// neighbor of an initial vertex is entered even when it is that vertex (a
/// self-loop yields `[a, a]`). A depth-first
/// walk over an explicit stack (one path, no copies) instead of recursion
/// keeps a long chain from exhausting the stack.
fn reachable_paths_from(graph: &Object, initial: Vec<&Value>) -> Result<BTreeSet<Value>> {
    let mut paths = BTreeSet::new();
    let mut commit = |path: &[&Value], last: Option<&Value>| -> Result<()> {
        let mut p: Vec<Value> = path.iter().map(|v| (*v).clone()).collect();
        p.extend(last.cloned());
        paths.insert(Value::from_array(p));
        enforce_limit()
    };
    for root in initial {
        let Some(edges) = graph.get(root) else {
            continue;
        };
        let first = neighbors(edges);
        if first.is_empty() {
            commit(&[root], None)?;
            continue;
        }
        // `path` is the stack of vertices walked so far; the frame on top of
        // `stack` holds the neighbors of its last vertex still to visit.
        let mut path = vec![root];
        // How many times each vertex is on `path` (the root can be twice).
        let mut on_path = BTreeMap::from([(root, 1usize)]);
        let mut stack = vec![(first, 0usize)];
        while let Some((next, index)) = stack.last_mut() {
            let Some(&node) = next.get(*index) else {
                stack.pop();
                if let Some(done) = path.pop() {
                    if let Some(n) = on_path.get_mut(done) {
                        *n -= 1;
                        if *n == 0 {
                            on_path.remove(done);
                        }
                    }
                }
                continue;
            };
            *index += 1;
            // OPA checks the path only below the initial vertex's neighbors.
            if stack.len() > 1 && on_path.contains_key(node) {
                commit(&path, None)?;
                continue;
            }
            let Some(edges) = graph.get(node) else {
                commit(&path, None)?;
                continue;
            };
            let further = neighbors(edges);
            if further.is_empty() {
                commit(&path, Some(node))?;
            } else {
                path.push(node);
                *on_path.entry(node).or_insert(0) += 1;
                stack.push((further, 0));
            }
        }
    }
    Ok(paths)
}

fn reachable_paths(
    span: &Span,
    params: &[Ref<Expr>],
    args: &[Value],
    strict: bool,
) -> Result<Value> {
    let name = "graph.reachable_paths";
    ensure_args_count(span, name, params, args, 2)?;

    let graph = ensure_object(name, &params[0], args[0].clone())?;
    let initial = match &args[1] {
        Value::Array(arr) => arr.iter().collect(),
        Value::Set(set) => set.iter().collect(),
        _ if strict => bail!(params[1].span().error("initial vertices must be array/set")),
        _ => return Ok(Value::Undefined),
    };

    Ok(Value::from_set(reachable_paths_from(&graph, initial)?))
}

fn walk_visit(path: &mut Vec<Value>, value: &Value, paths: &mut Vec<Value>) -> Result<()> {
    {
        let path = Value::from_array(path.clone());
        paths.push(Value::from_array([path, value.clone()].into()));
        // Guard walk result growth when emitting a new path/value pair.
        enforce_limit()?;
    }
    match value {
        Value::Array(arr) => {
            for (idx, elem) in arr.iter().enumerate() {
                path.push(Value::from(idx));
                // Guard path stack growth while traversing array members.
                enforce_limit()?;
                walk_visit(path, elem, paths)?;
                path.pop();
            }
        }
        Value::Set(set) => {
            for elem in set.iter() {
                path.push(elem.clone());
                // Guard path stack growth while traversing set members.
                enforce_limit()?;
                walk_visit(path, elem, paths)?;
                path.pop();
            }
        }
        Value::Object(obj) => {
            for (key, value) in obj.iter_sorted() {
                path.push(key.clone());
                // Guard path stack growth while traversing object entries.
                enforce_limit()?;
                walk_visit(path, value, paths)?;
                path.pop();
            }
        }
        _ => (),
    }
    Ok(())
}

fn walk(span: &Span, params: &[Ref<Expr>], args: &[Value], _strict: bool) -> Result<Value> {
    let name = "walk";
    ensure_args_count(span, name, params, args, 1)?;
    let mut paths = vec![];
    walk_visit(&mut vec![], &args[0], &mut paths)?;
    Ok(Value::from_array(paths))
}
