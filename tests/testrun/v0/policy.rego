package v0

allow {
	input.user == "admin"
}
