# Example gateway policy: role-based access to tools, with an MFA
# requirement for critical resources and a deny list.
package authz

import rego.v1

default allow := false

# Roles of the caller, from the data document.
roles contains role if some role in data.users[input.user].roles

# Permissions granted by those roles.
permitted contains perm if {
	some role in roles
	some perm in data.roles[role].permissions
}

allow if {
	not denied
	concat(":", [input.action, input.resource]) in permitted
	mfa_ok
}

allow if {
	not denied
	"admin" in roles
	mfa_ok
}

denied if input.user in data.deny_list

mfa_ok if not data.critical[input.resource]

mfa_ok if {
	data.critical[input.resource]
	input.context.mfa == true
}
