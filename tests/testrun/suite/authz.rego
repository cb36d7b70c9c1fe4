package authz

default allow := false

allow if input.user in data.admins

allow if {
	data.roles[input.user] == "reader"
	input.action == "read"
}

# Two values for alice reading: a conflict, which is an evaluation error.
level := "low" if input.user == "alice"

level := "high" if input.action == "read"
