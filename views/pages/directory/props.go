// Package directory holds the Active Directory screens: a customer's agents
// and directory settings, install tokens, imports with their preview, and
// the end user's page with reset and unlock.
package directory

import (
	"strconv"

	"github.com/a-h/templ"
)

// AgentRow is one agent on the customer's page.
type AgentRow struct {
	ID, Hostname, Version, OS string
	Online                    bool
	Revoked                   string // date, when revoked
	LastSeen                  string // "2 minutes ago"
	Enrolled                  string
	DirectoryChecked          bool
	DirectoryOK               bool
	DirectoryError            string
}

// ImportRow is one recent import.
type ImportRow struct {
	ID, When, Trigger, State, StateLabel, Error string
	Created, Updated, Unchanged, Gone, Total    int
}

// CardProps is the directory card of a customer's page.
type CardProps struct {
	CSRF       string
	CustomerID string
	CanManage  bool // create tokens, change settings, import, test
	CanRevoke  bool // Primary and Super
	Configured bool
	Summary    string // "ldaps://dc1 · OU=Staff,…"
	SkipVerify bool
	Insecure   bool // no TLS: password operations refused
	AutoImport string
	NextImport string
	Agents     []AgentRow
	Imports    []ImportRow
	Token      *TokenProps // just created: shown once
	Message    string
	Level      string
}

// TokenProps is an install token, shown once.
type TokenProps struct {
	ID                      string // the token's id (not secret), for the card's poll
	Token, Command, Expires string
}

// SettingsProps is the directory settings form.
type SettingsProps struct {
	CSRF, CustomerID, CustomerName              string
	URL, BindUser, BaseDN, ScopeKind, ScopeDN   string
	CAPEM                                       string
	StartTLS, SkipVerify, AutoImport, EnableNew bool
	HasPassword                                 bool
	IntervalHours                               string
	Errors                                      map[string]string
}

// TaskProps is a directory task as a panel shows it.
type TaskProps struct {
	ID      string
	Kind    string // check, reset, unlock, …
	Waiting bool
	OK      bool
	Title   string // outcome headline
	Message string
	Detail  string
}

// Change is one row of an import preview.
type Change struct {
	Name, Username, Fields, Note string
}

// ImportProps is an import's page.
type ImportProps struct {
	CSRF, CustomerID, CustomerName, ID string
	State, Error                       string
	Total, Unchanged                   int
	New, Updated, Gone                 []Change
	MoreNew, MoreUpdated, MoreGone     int
	Created, UpdatedN, GoneN           int // applied counts
	EnableSelfServe                    bool
	TenantSelfServe                    bool
	CanManage                          bool // may import or discard
}

// EndUserProps is an end user's page.
type EndUserProps struct {
	CSRF, ID, Name, Username, Email, Mobile, CustomerID, CustomerName string
	Source, Status, Expires, LastSet, LockedAt, Privileged, DN, UPN   string
	Locked, Disabled, MustChange, Unlinked, Directory, Ready          bool
	NotReadyReason                                                    string
	Lockouts                                                          []string
	Errors                                                            map[string]string
	// Verification is the identity verification card (views/pages/verify),
	// filled by the verification handlers; nil shows nothing.
	Verification templ.Component
	// Notices is the end user's notices (views/pages/notices), filled by
	// app/web/notices.go; nil shows nothing.
	Notices templ.Component
	// ResetPanel is the password card (views/pages/resetpanel: reset typed
	// or generated, unlock), filled by app/web/resetpanel.go for directory
	// accounts; nil shows nothing.
	ResetPanel templ.Component
}

func itoa(n int) string { return strconv.Itoa(n) }
