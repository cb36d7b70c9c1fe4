# An opa-envoy-plugin style policy for the sark-policy Envoy filter
# (examples/envoy.yaml carries the same text inline). It runs unchanged
# under opa-envoy-plugin with `path: envoy/authz/allow`.
#
# GET /public/** is open; anything else needs `Authorization: Bearer <JWT>`
# signed HS256 with data.jwt.secret: role "admin" may do anything, role
# "reader" may GET /api/**. No token: 401. A token without the right: 403.
package envoy.authz

import rego.v1

http := input.attributes.request.http

path := concat("/", ["", concat("/", input.parsed_path)])

public if {
	http.method == "GET"
	glob.match("/public/**", ["/"], path)
}

claims := payload if {
	[scheme, token] := split(http.headers.authorization, " ")
	lower(scheme) == "bearer"
	[valid, _, payload] := io.jwt.decode_verify(token, {"secret": data.jwt.secret})
	valid
}

authorized if public

authorized if claims.role == "admin"

authorized if {
	claims.role == "reader"
	http.method == "GET"
	glob.match("/api/**", ["/"], path)
}

default user := "anonymous"

user := claims.sub

default allow := {
	"allowed": false,
	"http_status": 403,
	"body": "forbidden\n",
	"headers": {"x-sark-decision": "deny"},
}

allow := {
	"allowed": true,
	"headers": {"x-sark-user": user, "x-sark-decision": "allow"},
	"request_headers_to_remove": ["x-internal-debug"],
	"response_headers_to_add": {"x-sark-policy": "envoy.authz"},
} if authorized

allow := {
	"allowed": false,
	"http_status": 401,
	"body": "missing or invalid bearer token\n",
	"headers": {"www-authenticate": "Bearer realm=\"sark\""},
} if {
	not authorized
	not claims
}
