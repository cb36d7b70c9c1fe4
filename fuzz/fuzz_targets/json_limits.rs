//! libFuzzer's entry into `sark_policy_fuzz::json_limits` (the checks live in
//! src/, shared with the seeded smoke run in make test).
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    sark_policy_fuzz::json_limits::run(text);
});
