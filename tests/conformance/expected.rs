//! `expected-failures.txt`: one case id per line, then `#` and the reason.

use std::collections::BTreeMap;
use std::path::Path;

pub fn load(path: &Path) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (id, reason) = line
            .split_once('#')
            .map_or((line, ""), |(a, b)| (a.trim(), b.trim()));
        let id = id.trim();
        assert!(
            !reason.is_empty(),
            "{}:{}: {id} needs a reason after '#'",
            path.display(),
            n + 1
        );
        // The id itself holds a '#': `<file>#<index> # reason`.
        let (id, reason) = match reason.split_once('#') {
            Some((index, r)) => (format!("{id}#{}", index.trim()), r.trim().to_owned()),
            None => panic!(
                "{}:{}: expected `<file>#<index> # reason`",
                path.display(),
                n + 1
            ),
        };
        out.insert(id, reason);
    }
    out
}
