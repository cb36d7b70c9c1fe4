//! `net.cidr_intersects`, `net.cidr_overlap` and `net.cidr_contains_matches`
//! (OPA `topdown/cidr.go`). Addresses parse as Go's `net` package parses
//! them; an IPv4-mapped IPv6 address counts as IPv4, as Go's `To4` makes it.

use super::{operand_error, string_arg};
use anyhow::{Result, anyhow};
use ipnet::IpNet;
use regorus::Value;
use std::collections::BTreeSet;
use std::net::IpAddr;

/// Go's `net.ParseCIDR`: the network of `addr/prefix`.
pub(super) fn parse_cidr(text: &str) -> Result<IpNet> {
    let invalid = || anyhow!("invalid CIDR address: {text}");
    let (addr, prefix) = text.split_once('/').ok_or_else(invalid)?;
    let addr: IpAddr = addr.parse().map_err(|_| invalid())?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let prefix: u8 = prefix.parse().map_err(|_| invalid())?;
    IpNet::new(addr, prefix)
        .map(|net| net.trunc())
        .map_err(|_| invalid())
}

/// Go's `net.ParseIP` followed by `To4` where it applies.
pub(super) fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// OPA's `net.cidr_contains(cidr, cidr_or_ip)`: whether `net` holds the
/// address, or the first and last address of the network.
fn contains(net: &IpNet, cidr_or_ip: &str) -> Result<bool> {
    if let Some(ip) = parse_ip(cidr_or_ip) {
        return Ok(net.contains(&ip));
    }
    let inner = parse_cidr(cidr_or_ip).map_err(|_| {
        anyhow!("not a valid textual representation of an IP address or CIDR: {cidr_or_ip}")
    })?;
    Ok(net.contains(&inner.network()) && net.contains(&inner.broadcast()))
}

/// `net.cidr_overlap(cidr, cidr_or_ip)`: OPA's deprecated name for
/// `net.cidr_contains`.
pub(super) fn overlap(args: Vec<Value>) -> Result<Value> {
    let net = parse_cidr(string_arg(&args, 0)?)?;
    Ok(Value::from(contains(&net, string_arg(&args, 1)?)?))
}

/// `net.cidr_intersects(cidr1, cidr2)`: whether the networks share an
/// address, i.e. one holds the other's first address.
pub(super) fn intersects(args: Vec<Value>) -> Result<Value> {
    let a = parse_cidr(string_arg(&args, 0)?)?;
    let b = parse_cidr(string_arg(&args, 1)?)?;
    Ok(Value::from(
        a.contains(&b.network()) || b.contains(&a.network()),
    ))
}

/// `net.cidr_contains_matches(cidrs, cidrs_or_ips)`: the set of
/// `[key1, key2]` where the CIDR at `key1` of the first operand holds the
/// CIDR or address at `key2` of the second. An operand is a string (its key
/// is itself), or an array, set or object (keys: index, element, key) of
/// strings or of arrays whose first element is the string.
pub(super) fn contains_matches(args: Vec<Value>) -> Result<Value> {
    let outer = entries(&args, 0)?;
    let inner = entries(&args, 1)?;
    let mut matches = BTreeSet::new();
    for (cidr, key1) in &outer {
        let cidr = match cidr {
            Value::String(s) => parse_cidr(s)?,
            other => return Err(operand_error(0, "string", other)),
        };
        for (cidr_or_ip, key2) in &inner {
            let cidr_or_ip = match cidr_or_ip {
                Value::String(s) => s,
                other => return Err(operand_error(1, "string", other)),
            };
            if contains(&cidr, cidr_or_ip)? {
                matches.insert(Value::from(vec![key1.clone(), key2.clone()]));
            }
        }
    }
    Ok(Value::from(matches))
}

/// The `(cidr, key)` pairs of operand `pos`.
fn entries(args: &[Value], pos: usize) -> Result<Vec<(Value, Value)>> {
    let operand = super::arg(args, pos)?;
    let cidr_of = |element: &Value| -> Result<Value> {
        let shape = || {
            anyhow!(
                "operand {}: element must be string or non-empty array",
                pos + 1
            )
        };
        match element {
            Value::String(_) => Ok(element.clone()),
            Value::Array(a) => a.first().cloned().ok_or_else(shape),
            _ => Err(shape()),
        }
    };
    Ok(match operand {
        Value::String(_) => vec![(operand.clone(), operand.clone())],
        Value::Array(items) => (0..)
            .zip(items.iter())
            .map(|(i, e): (u64, _)| Ok((cidr_of(e)?, Value::from(i))))
            .collect::<Result<_>>()?,
        Value::Set(items) => items
            .iter()
            .map(|e| Ok((cidr_of(e)?, e.clone())))
            .collect::<Result<_>>()?,
        Value::Object(fields) => fields
            .iter()
            .map(|(k, e)| Ok((cidr_of(e)?, k.clone())))
            .collect::<Result<_>>()?,
        other => {
            return Err(operand_error(
                pos,
                "one of {string, array, set, object}",
                other,
            ));
        }
    })
}

#[cfg(test)]
#[path = "netcidr_tests.rs"]
mod tests;
