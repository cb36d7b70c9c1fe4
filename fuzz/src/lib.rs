//! The fuzz targets' checks, one module per target, each a `run` function
//! over an `Arbitrary` input. libFuzzer drives them from fuzz_targets/
//! (`make fuzz`, coverage-guided); the main workspace's
//! tests/fuzz_smoke drives the same functions from seeded random bytes in
//! `make test`, which compiles them with everything else.

pub mod cache_ops;
pub mod decide_keys;
pub mod json_limits;
pub mod rego_paths;
