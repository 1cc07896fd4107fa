// Package dashboard holds the signed-in home page: a greeting, the
// on-boarding checklist and, for admins, a summary of the logins.
package dashboard

// Step is one entry of the on-boarding checklist.
type Step struct {
	Key      string // stable id for tests: settings, technicians, customers, …
	Title    string
	Text     string // what the step is
	Done     bool
	Href     string // where it is done; "" when there is nowhere to go (yet)
	LinkText string
	Note     string // why there is no link: who to ask, or what it waits for
}

// Stats summarise the tenant's logins (admins only).
type Stats struct {
	Logins  int // all logins, any status
	Active  int
	Invited int
	MFA     int // active logins with an authenticator
}

// Props is the dashboard.
type Props struct {
	Greeting   string
	TenantName string
	Steps      []Step
	Stats      *Stats // nil for technicians
}

// DoneCount is the number of finished checklist steps.
func (p Props) DoneCount() int {
	n := 0
	for _, s := range p.Steps {
		if s.Done {
			n++
		}
	}
	return n
}
