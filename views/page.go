// Package views holds Latchkey's templ components: the page layouts here,
// shared components in views/components, screens in views/pages/<area>, and
// email bodies in views/emails. Views take small view-model structs and
// import nothing from the domain packages.
package views

// Page is what the layout needs to know about the request.
type Page struct {
	Title      string
	CSRF       string // token for forms and htmx requests
	Path       string // current path, for highlighting navigation
	TenantName string
	HasLogo    bool
	User       *User // nil when nobody is signed in
	// EmailNotConfigured shows the banner that email stays in the outbox.
	EmailNotConfigured bool
	// NoHistory keeps the page out of htmx's history cache (secrets on it).
	NoHistory bool
	Flash     *Flash
}

// User is the signed-in login as the layout shows it.
type User struct {
	Name    string
	Email   string
	Role    string // label
	IsAdmin bool   // Primary or Super
}

// Flash is a one-time message shown at the top of the next page.
type Flash struct {
	Level   string // ok, info, warn, danger
	Message string
}

// NavItem is one entry of the sidebar.
type NavItem struct {
	Href, Label string
	AdminOnly   bool
}

// Nav is the sidebar, in order.
var Nav = []NavItem{
	{Href: "/", Label: "Dashboard"},
	{Href: "/customers", Label: "Customers"},
	{Href: "/end-users", Label: "End users"},
	{Href: "/notifications", Label: "Notifications"},
	{Href: "/logins", Label: "Logins", AdminOnly: true},
	{Href: "/events", Label: "Events", AdminOnly: true},
	{Href: "/settings", Label: "Settings", AdminOnly: true},
}

// Active reports whether href is the current section.
func (p Page) Active(href string) bool {
	if href == "/" {
		return p.Path == "/"
	}
	return p.Path == href || len(p.Path) > len(href) && p.Path[:len(href)] == href && p.Path[len(href)] == '/'
}

// HxHeaders is the hx-headers value that sends the CSRF token with every htmx request.
func (p Page) HxHeaders() string { return `{"X-CSRF-Token":"` + p.CSRF + `"}` }

// HTMXConfig makes htmx swap 422 (validation) responses, keep its indicator
// styles out of the page (CSP), and never evaluate inline scripts.
const HTMXConfig = `{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":10,` +
	`"responseHandling":[{"code":"204","swap":false},{"code":"[23]..","swap":true},{"code":"422","swap":true},{"code":"[45]..","swap":false,"error":true}]}`
