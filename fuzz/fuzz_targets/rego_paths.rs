//! libFuzzer's entry into `sark_policy_fuzz::rego_paths` (the checks live in
//! src/, shared with the seeded smoke run in make test).
#![no_main]

libfuzzer_sys::fuzz_target!(|case: sark_policy_fuzz::rego_paths::Case| {
    sark_policy_fuzz::rego_paths::run(case);
});
