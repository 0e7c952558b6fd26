package bus

import "strings"

// Subject builds ams.<aggregate>.<event>.<tenant>. Tenant ids are validated
// at config load to be single lowercase tokens, so they cannot add wildcards or levels.
func Subject(aggregate, event, tenant string) string {
	return "ams." + aggregate + "." + event + "." + tenant
}

// SubjectTenant returns the tenant token of an ams.<aggregate>.<event>.<tenant> subject.
func SubjectTenant(subject string) string {
	if i := strings.LastIndexByte(subject, '.'); i >= 0 {
		return subject[i+1:]
	}
	return ""
}
