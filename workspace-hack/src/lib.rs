//! Managed by `cargo hakari` (see `.config/hakari.toml`): its dependencies
//! carry the union of the features every native workspace crate asks for, so
//! building the host, the tests and the benches separately compiles each
//! dependency once. Nothing in it is meant to be used.
