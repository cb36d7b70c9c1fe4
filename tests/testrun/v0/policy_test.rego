package v0_test

test_admin_allowed {
	data.v0.allow with input as {"user": "admin"}
}

test_guest_denied {
	not data.v0.allow with input as {"user": "guest"}
}
