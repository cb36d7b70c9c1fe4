package authz_test

import data.authz

test_admin_allowed if authz.allow with input as {"user": "root", "action": "delete"}

test_reader_reads if authz.allow with input as {"user": "alice", "action": "read"}

test_reader_cannot_write if not authz.allow with input as {"user": "alice", "action": "write"}

# Fails: bob has no role.
test_bob_reads if authz.allow with input as {"user": "bob", "action": "read"}

# Errors: authz.level has two values for alice reading.
test_level_conflict if authz.level == "low" with input as {"user": "alice", "action": "read"}

todo_test_audit_log if false
