//! `net.cidr_merge(addrs)`: OPA's merge of addresses and networks into the
//! fewest CIDRs (`topdown/cidr.go` over `internal/cidr/merge`).
//!
//! Ranges live in one 128-bit space, IPv4 as IPv4-mapped IPv6 (as Go holds
//! them). They are sorted by last address and merged from the top down
//! when one starts at or before the address after the previous one's end.
//! A range merged with nothing keeps its input network as written, which
//! for a bare IPv4 address is the address with its classful default mask
//! (`10.1.2.3` gives `10.1.2.3/8`, Go's `DefaultMask`); a merged range
//! becomes the minimal list of CIDRs covering it.

use super::arg;
use super::netcidr::{parse_cidr, parse_ip};
use anyhow::{Result, bail};
use ipnet::IpNet;
use regorus::Value;
use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// `::ffff:0.0.0.0`, where IPv4 addresses sit in the 128-bit space.
const V4_MAPPED: u128 = 0xffff << 32;

struct Range {
    first: u128,
    last: u128,
    /// The input network, printed as given, until merged with another.
    network: Option<String>,
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => V4_MAPPED | u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn range_of(net: IpNet, printed: String) -> Range {
    Range {
        first: to_u128(net.network()),
        last: to_u128(net.broadcast()),
        network: Some(printed),
    }
}

/// Go's `generateIPNet` and `GetAddressRange` for one element.
fn element_range(element: &Value) -> Result<Range> {
    let Value::String(text) = element else {
        bail!("element must be string");
    };
    Ok(match parse_ip(text) {
        Some(IpAddr::V4(ip)) => {
            let prefix = match ip.octets().first() {
                Some(0..0x80) => 8,
                Some(0x80..0xc0) => 16,
                _ => 24,
            };
            let net = IpNet::new(IpAddr::V4(ip), prefix)?;
            range_of(net, format!("{ip}/{prefix}"))
        }
        Some(IpAddr::V6(_)) => bail!("IPv6 invalid: needs prefix length"),
        None => {
            let net = parse_cidr(text)?;
            range_of(net, net.to_string())
        }
    })
}

/// Go's `GetPreviousIP`: the address before `ip`, or `ip` itself at the
/// bottom of the IPv4 or the IPv6 space.
fn previous(ip: u128) -> u128 {
    if ip == 0 || ip == V4_MAPPED {
        ip
    } else {
        ip - 1
    }
}

pub(super) fn merge(args: Vec<Value>) -> Result<Value> {
    let mut ranges = match arg(&args, 0)? {
        Value::Array(items) => items
            .iter()
            .map(element_range)
            .collect::<Result<Vec<_>>>()?,
        Value::Set(items) => items
            .iter()
            .map(element_range)
            .collect::<Result<Vec<_>>>()?,
        _ => bail!("operand must be an array"),
    };
    ranges.sort_by_key(|r| (r.last, r.first));
    let mut merged: Vec<Range> = Vec::with_capacity(ranges.len());
    for range in ranges.into_iter().rev() {
        if let Some(top) = merged.last_mut()
            && previous(top.first) <= range.last
        {
            top.first = top.first.min(range.first);
            top.network = None;
            continue;
        }
        merged.push(range);
    }
    let mut out = BTreeSet::new();
    for range in merged {
        match range.network {
            Some(network) => {
                out.insert(Value::from(network));
            }
            None => out.extend(range_to_cidrs(range.first, range.last).map(Value::from)),
        }
    }
    Ok(Value::from(out))
}

/// The fewest CIDRs covering `first..=last`, printed.
fn range_to_cidrs(first: u128, last: u128) -> impl Iterator<Item = String> {
    let v4 = first >> 32 == 0xffff && last >> 32 == 0xffff;
    let (base, bits) = if v4 { (V4_MAPPED, 32) } else { (0, 128) };
    blocks(first - base, last - base, bits)
        .into_iter()
        .map(move |(start, prefix)| {
            if v4 {
                let ip = Ipv4Addr::from(u32::try_from(start).unwrap_or_default());
                format!("{ip}/{prefix}")
            } else {
                format!("{}/{prefix}", Ipv6Addr::from(start))
            }
        })
}

/// Aligned blocks `(start, prefix)` of a `bits`-wide space exactly covering
/// `lo..=hi`: from `lo`, each time the largest block that starts there.
fn blocks(mut lo: u128, hi: u128, bits: u32) -> Vec<(u128, u32)> {
    let low_mask = |n: u32| {
        if n >= 128 {
            u128::MAX
        } else {
            (1u128 << n) - 1
        }
    };
    let mut out = Vec::new();
    loop {
        let mut size = if lo == 0 {
            bits
        } else {
            lo.trailing_zeros().min(bits)
        };
        while size > 0 && low_mask(size) > hi - lo {
            size -= 1;
        }
        out.push((lo, bits - size));
        let end = lo + low_mask(size);
        if end >= hi {
            return out;
        }
        lo = end + 1;
    }
}

#[cfg(test)]
#[path = "netcidr_merge_tests.rs"]
mod tests;
