//! The replay journal stays bounded however often data is merged, and an
//! instance that replaces one after a trap still gets all the data.

use crate::{builder, engine_with};
use sark_policy_host::Error;

const READ: &str =
    "package read\nusers := count(data.users)\nfirst := data.users.u0.n\nlast := data.users.u999.n";

/// `COMPACT_ADDS` merges since the last compaction, and its document.
const BOUND: usize = 16 + 1;

#[test]
fn a_thousand_merges_keep_the_journal_bounded_and_replay_all_data() {
    let e = engine_with(builder().shards(2));
    e.add_policy("read.rego", READ).unwrap();
    let mut longest = 0;
    for i in 0..1000 {
        e.add_data(&format!(r#"{{"users":{{"u{i}":{{"n":{i}}}}}}}"#))
            .unwrap();
        longest = longest.max(e.journal_len());
    }
    assert!(longest <= BOUND, "journal of {longest} data changes");
    assert!(e.journal_len() >= 1);
    // Trap both instances (evaluations go round robin over the shards).
    for _ in 0..2 {
        let err = e.eval_query(&crate::trap_query(), "").unwrap_err();
        assert!(matches!(err, Error::Trap(_)), "{err}");
    }
    assert_eq!(e.metrics().recycles, 2);
    for _ in 0..2 {
        let read = |rule| e.eval_rule(rule, "").unwrap();
        assert_eq!(read("read/users").as_deref(), Some("1000"));
        assert_eq!(read("read/first").as_deref(), Some("0"));
        assert_eq!(read("read/last").as_deref(), Some("999"));
    }
    // A refused merge changes neither the data nor the journal's bound.
    assert!(e.add_data(r#"{"users":{"u5":{"n":6}}}"#).is_err());
    e.add_data(r#"{"admins":{"bob":true}}"#).unwrap();
    assert!(e.journal_len() <= BOUND);
    e.replace_data(r#"{"admins":{"carol":true}}"#).unwrap();
    assert_eq!(e.journal_len(), 1);
    e.clear_data().unwrap();
    assert_eq!(e.journal_len(), 0);
}
