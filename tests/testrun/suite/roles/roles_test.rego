package roles_test

test_roles_from_yaml if data.roles.alice == "reader"

test_each_role[user] if {
	some user, role in {"alice": "reader"}
	data.roles[user] == role
}
