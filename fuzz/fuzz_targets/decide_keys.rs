//! libFuzzer's entry into `sark_policy_fuzz::decide_keys` (the checks live in
//! src/, shared with the seeded smoke run in make test).
#![no_main]

libfuzzer_sys::fuzz_target!(|reqs: Vec<sark_policy_fuzz::decide_keys::Req>| {
    sark_policy_fuzz::decide_keys::run(reqs);
});
