package app

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey/app/audit"
	"github.com/latchkey/latchkey/app/customer"
	"github.com/latchkey/latchkey/app/enduser"
	"github.com/latchkey/latchkey/app/login"
	"github.com/latchkey/latchkey/app/tenant"
	"github.com/latchkey/latchkey/db"
)

// `latchkey demo-data` fills the installation's tenant with made-up
// customers and end users, for demonstrations and benchmarks. It only adds:
// running it twice adds a second set (customer names get a number when
// taken). It never runs on its own; do not run it on a production tenant.

// Demo data defaults and the size of one customer the benchmarks need.
const (
	DemoDefaultCustomers = 100
	DemoDefaultEndUsers  = 100_000
	// DemoBigCustomer is the size of the largest customer when the total
	// allows: benchmarks select 10,000 end users inside one customer.
	DemoBigCustomer = 10_000

	demoBatch   = 500   // rows per INSERT statement
	demoTxRows  = 5_000 // rows per transaction
	demoMaxRows = 5_000_000
)

// DemoPrimaryEmail is the Primary login created when there is no tenant yet.
const DemoPrimaryEmail = "demo@latchkey.example"

// DemoOptions size a demo-data run.
type DemoOptions struct {
	Customers int    // customers to add (DemoDefaultCustomers when 0)
	EndUsers  int    // end users to add in all, across the new customers (DemoDefaultEndUsers when 0; -1 for none)
	Seed      uint64 // 0: random; otherwise the same data again (names, numbers; not ids)
}

// DemoResult says what a run added.
type DemoResult struct {
	TenantID      string
	TenantName    string
	CreatedTenant bool   // no tenant existed: "Demo MSP" was created
	Password      string // the new Primary's password (only when CreatedTenant)
	Customers     int
	EndUsers      int
	Largest       int // end users of the largest new customer
	Elapsed       time.Duration
}

// parseDemoFlags takes demo-data's own flags (--customers N, --end-users N,
// --seed N, also with = or a single dash) out of args and returns the rest
// for the configuration.
func parseDemoFlags(args []string) (DemoOptions, []string, error) {
	var o DemoOptions
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || (name != "customers" && name != "end-users" && name != "seed") {
			rest = append(rest, a)
			continue
		}
		if !hasVal {
			if i+1 >= len(args) {
				return o, nil, fmt.Errorf("demo-data: --%s needs a number", name)
			}
			i++
			val = args[i]
		}
		n, err := strconv.ParseUint(strings.ReplaceAll(val, "_", ""), 10, 64)
		if err != nil {
			return o, nil, fmt.Errorf("demo-data: --%s %q: want a whole number", name, val)
		}
		switch name {
		case "customers":
			if n == 0 || n > 100_000 {
				return o, nil, fmt.Errorf("demo-data: --customers must be 1 to 100000")
			}
			o.Customers = int(n)
		case "end-users":
			if n > demoMaxRows {
				return o, nil, fmt.Errorf("demo-data: --end-users must be at most %d", demoMaxRows)
			}
			o.EndUsers = int(n)
			if n == 0 {
				o.EndUsers = -1
			}
		case "seed":
			o.Seed = n
		}
	}
	return o, rest, nil
}

// DemoData adds opts.Customers customers and opts.EndUsers end users (spread
// unevenly, the largest customer getting DemoBigCustomer when the total
// allows) to the installation's tenant, creating a "Demo MSP" tenant with a
// Primary login DemoPrimaryEmail and a random password when there is none.
// It writes progress and a summary to w. Rows go in multi-row INSERTs of
// 500, in transactions of 5,000; one audit event (demo.data) records the run.
func DemoData(ctx context.Context, a *App, opts DemoOptions, w io.Writer) (DemoResult, error) {
	start := time.Now()
	if opts.Customers <= 0 {
		opts.Customers = DemoDefaultCustomers
	}
	switch {
	case opts.EndUsers == 0:
		opts.EndUsers = DemoDefaultEndUsers
	case opts.EndUsers < 0:
		opts.EndUsers = 0
	}
	seed := opts.Seed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	r := mrand.New(mrand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	now := a.Web.Now().UTC().Truncate(time.Microsecond)

	if a.DB.Dialect == db.SQLite {
		// Random ids and name indexes touch pages all over the file: a larger
		// page cache for the run saves most reads, and statement journals in
		// memory save writes. SQLite has one connection; both are restored.
		for _, p := range []struct{ name, value string }{{"cache_size", "-131072"}, {"temp_store", "2"}} {
			var old int
			if err := a.DB.Bun.NewRaw("PRAGMA "+p.name).Scan(ctx, &old); err != nil {
				continue
			}
			if _, err := a.DB.Bun.ExecContext(ctx, "PRAGMA "+p.name+" = "+p.value); err == nil {
				defer a.DB.Bun.ExecContext(context.WithoutCancel(ctx), "PRAGMA "+p.name+" = "+strconv.Itoa(old)) //nolint:errcheck
			}
		}
	}
	res, t, err := demoTenant(ctx, a, w)
	if err != nil {
		return res, err
	}
	taken, err := activeCustomerNames(ctx, a.DB, t.ID)
	if err != nil {
		return res, err
	}

	// Customers, all in one transaction with the audit event.
	sizes := demoSizes(opts.EndUsers, opts.Customers, r)
	cs := make([]*customer.Customer, opts.Customers)
	for i := range cs {
		name := uniqueName(demoCompanyName(r), taken)
		created := now.Add(-time.Duration(r.IntN(3*365*24)) * time.Hour)
		cs[i] = &customer.Customer{
			ID: db.NewID(), TenantID: t.ID, Name: name, Domains: demoDomains(name, r), TimeZone: demoZone(r),
			Source: customer.SourceManual, CreatedAt: created, UpdatedAt: created,
		}
		if r.IntN(4) == 0 {
			cs[i].Notes = demoNotes[r.IntN(len(demoNotes))]
		}
	}
	err = a.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
		for i := 0; i < len(cs); i += demoBatch {
			batch := cs[i:min(i+demoBatch, len(cs))]
			if _, err := tx.NewInsert().Model(&batch).Exec(ctx); err != nil {
				return fmt.Errorf("demo-data: insert customers: %w", err)
			}
		}
		return audit.Record(ctx, tx, now, audit.System(t.ID), audit.Entry{Action: "demo.data", TargetType: "tenant", TargetID: t.ID,
			Target: t.Name, Detail: fmt.Sprintf("demo data: %d customers, %d end users", len(cs), opts.EndUsers)})
	})
	if err != nil {
		return res, err
	}
	customer.ForgetOptions(t.ID) // the grid's customer filter, in this process
	res.Customers = len(cs)
	fmt.Fprintf(w, "added %d customers (%s)\n", len(cs), time.Since(start).Round(time.Millisecond))

	// End users, customer by customer, in transactions of demoTxRows rows.
	g := &demoGen{r: r, now: now}
	buf := make([]*enduser.EndUser, 0, demoTxRows)
	flush := func() error {
		if len(buf) == 0 {
			return nil
		}
		err := a.DB.RunInTx(ctx, func(ctx context.Context, tx *db.Tx) error {
			for i := 0; i < len(buf); i += demoBatch {
				batch := buf[i:min(i+demoBatch, len(buf))]
				if _, err := tx.NewInsert().Model(&batch).Exec(ctx); err != nil {
					return fmt.Errorf("demo-data: insert end users: %w", err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
		res.EndUsers += len(buf)
		buf = buf[:0]
		fmt.Fprintf(w, "added %d of %d end users (%s)\n", res.EndUsers, opts.EndUsers, time.Since(start).Round(time.Millisecond))
		return nil
	}
	for i, c := range cs {
		res.Largest = max(res.Largest, sizes[i])
		used := map[string]bool{}
		for range sizes[i] {
			buf = append(buf, g.endUser(c, used))
			if len(buf) == demoTxRows {
				if err := flush(); err != nil {
					return res, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return res, err
	}
	res.Elapsed = time.Since(start)
	fmt.Fprintf(w, "demo data for %s: %d customers and %d end users (largest customer: %d) in %s on %s\n",
		t.Name, res.Customers, res.EndUsers, res.Largest, res.Elapsed.Round(time.Millisecond), a.DB.Dialect)
	return res, nil
}

// demoTenant returns the installation's tenant, creating "Demo MSP" with a
// Primary login when there is none (its password is printed once).
func demoTenant(ctx context.Context, a *App, w io.Writer) (DemoResult, *tenant.Tenant, error) {
	var res DemoResult
	var id string
	err := a.DB.Bun.NewSelect().Table("installation").Column("tenant_id").Where("id = 1").Scan(ctx, &id)
	if errors.Is(err, sql.ErrNoRows) {
		err = a.DB.Bun.NewSelect().Table("tenants").Column("id").Order("created_at").Limit(1).Scan(ctx, &id)
	}
	switch {
	case err == nil:
		t, err := tenant.Get(ctx, a.DB.Bun, id)
		if err != nil {
			return res, nil, err
		}
		res.TenantID, res.TenantName = t.ID, t.Name
		return res, t, nil
	case !errors.Is(err, sql.ErrNoRows):
		return res, nil, fmt.Errorf("demo-data: find the tenant: %w", err)
	}

	var b [15]byte
	if _, err := rand.Read(b[:]); err != nil {
		return res, nil, err
	}
	pw := strings.ToLower(base32.StdEncoding.EncodeToString(b[:])) // 24 characters, 75 bits
	t, l, err := a.Logins.CreateTenantWithPrimary(ctx, login.PrimaryInput{
		FirstName: "Demo", LastName: "Primary", Email: DemoPrimaryEmail, Password: pw, Confirm: pw,
	}, "127.0.0.1")
	if err != nil {
		return res, nil, fmt.Errorf("demo-data: create the tenant: %w", err)
	}
	now := a.Web.Now().UTC()
	if _, err := a.DB.Bun.NewUpdate().Model((*tenant.Tenant)(nil)).Set("name = ?", "Demo MSP").Set("setup_step = ?", tenant.StepDone).
		Set("setup_completed_at = ?", now).Where("id = ?", t.ID).Exec(ctx); err != nil {
		return res, nil, fmt.Errorf("demo-data: name the tenant: %w", err)
	}
	t.Name = "Demo MSP"
	res.TenantID, res.TenantName, res.CreatedTenant, res.Password = t.ID, t.Name, true, pw
	fmt.Fprintf(w, "created the tenant %q with the Primary login %s\n  password (shown once, change it after signing in): %s\n", t.Name, l.Email, pw)
	return res, t, nil
}

// activeCustomerNames returns the lowercased names of the tenant's active
// customers (names are unique among them).
func activeCustomerNames(ctx context.Context, d *db.DB, tenantID string) (map[string]bool, error) {
	var names []string
	if err := d.Bun.NewSelect().Model((*customer.Customer)(nil)).ColumnExpr("lower(name)").
		Where("tenant_id = ? AND archived_at IS NULL", tenantID).Scan(ctx, &names); err != nil {
		return nil, fmt.Errorf("demo-data: customer names: %w", err)
	}
	out := make(map[string]bool, len(names))
	for _, n := range names {
		out[n] = true
	}
	return out, nil
}

// uniqueName returns name, or name with a number, not yet in taken (and takes it).
func uniqueName(name string, taken map[string]bool) string {
	out := name
	for n := 2; taken[strings.ToLower(out)]; n++ {
		out = fmt.Sprintf("%s %d", name, n)
	}
	taken[strings.ToLower(out)] = true
	return out
}

// demoSizes spreads total end users over n customers unevenly: when the
// total allows, the first customer gets max(DemoBigCustomer, total/8), the
// others a share that falls with their rank (with some noise), so that the
// list has large, middling and small customers.
func demoSizes(total, n int, r *mrand.Rand) []int {
	out := make([]int, n)
	if n == 0 || total <= 0 {
		return out
	}
	big := 0
	switch {
	case n == 1:
		big = total
	case total >= DemoBigCustomer:
		big = max(DemoBigCustomer, total/8)
	}
	out[0] = big
	rest, first := total-big, 1
	if big == 0 {
		first = 0
	}
	weights := make([]float64, n)
	sum := 0.0
	for i := first; i < n; i++ {
		weights[i] = (0.6 + 0.8*r.Float64()) / math.Pow(float64(i+1), 0.9)
		sum += weights[i]
	}
	given := 0
	for i := first; i < n; i++ {
		out[i] = int(float64(rest) * weights[i] / sum)
		given += out[i]
	}
	for i := first; given < rest; i++ {
		if i == n {
			i = first
		}
		out[i]++
		given++
	}
	return out
}

// demoGen makes end users.
type demoGen struct {
	r   *mrand.Rand
	now time.Time
}

// endUser returns a made-up end user of c; used holds the customer's
// usernames so far (lowercased).
func (g *demoGen) endUser(c *customer.Customer, used map[string]bool) *enduser.EndUser {
	r := g.r
	first, last := demoFirstNames[r.IntN(len(demoFirstNames))], demoLastNames[r.IntN(len(demoLastNames))]
	base := strings.ToLower(asciiName(first) + "." + asciiName(last))
	username := base
	for n := 2; used[username]; n++ {
		username = base + strconv.Itoa(n)
	}
	used[username] = true

	u := &enduser.EndUser{
		ID: db.NewID(), TenantID: c.TenantID, CustomerID: c.ID, Username: username, FirstName: first, LastName: last,
		CreatedAt: c.CreatedAt, UpdatedAt: c.CreatedAt,
	}
	switch p := r.IntN(100); {
	case p < 10:
		u.Source = enduser.SourceManual
	case p < 30:
		u.Source = enduser.SourceCSV
	case p < 75:
		u.Source = enduser.SourceAD
	default:
		u.Source = enduser.SourceM365
	}
	valueSource := map[string]string{enduser.SourceManual: enduser.ValueManual, enduser.SourceCSV: enduser.ValueImport,
		enduser.SourceAD: enduser.ValueDirectory, enduser.SourceM365: enduser.ValueDirectory}[u.Source]
	if u.Source == enduser.SourceAD || u.Source == enduser.SourceM365 {
		u.ExternalID = demoGUID(r)
	}
	if domains := c.DomainList(); len(domains) > 0 && r.IntN(100) < 90 {
		u.Email, u.EmailSource = username+"@"+domains[0], valueSource
	}
	if r.IntN(100) < 70 {
		u.Mobile, u.MobileSource = demoMobile(r), valueSource
	}
	u.SelfServeEnabled = r.IntN(2) == 0
	u.Locked = r.IntN(100) < 2
	u.Privileged = r.IntN(100) == 0
	exp := g.now.Add(time.Duration(r.IntN(100*24*60)-10*24*60) * time.Minute) // -10 … +90 days
	u.PasswordExpiresAt = &exp
	// About 20 % of all end users have used self-serve; they all have an
	// email and a mobile (≈ 63 % do), so pick about 32 % of those.
	if u.Email != "" && u.Mobile != "" {
		if r.IntN(1000) < 317 {
			fa := g.now.Add(-time.Duration(1+r.IntN(300*24)) * time.Hour)
			la := fa.Add(time.Duration(r.Int64N(int64(g.now.Sub(fa)) + 1)))
			u.FirstAccessAt, u.LastAccessAt, u.MobileConfirmedAt = &fa, &la, &fa
			sent := fa.Add(-time.Duration(1+r.IntN(72)) * time.Hour)
			u.WelcomeSentAt = &sent
		} else if r.IntN(3) == 0 {
			sent := g.now.Add(-time.Duration(1+r.IntN(60*24)) * time.Hour)
			u.WelcomeSentAt = &sent
		}
	}
	return u
}

// asciiName keeps the letters a–z of a name for a username.
func asciiName(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		switch {
		case c >= 'a' && c <= 'z':
			b.WriteRune(c)
		case c == 'é' || c == 'è':
			b.WriteByte('e')
		case c == 'ö' || c == 'ó':
			b.WriteByte('o')
		case c == 'ü' || c == 'ú':
			b.WriteByte('u')
		case c == 'á' || c == 'ä':
			b.WriteByte('a')
		}
	}
	return b.String()
}

// demoMobile is a fictional number: +1 NXX 555-01XX or +44 7700 900XXX.
func demoMobile(r *mrand.Rand) string {
	if r.IntN(5) == 0 {
		return fmt.Sprintf("+447700900%03d", r.IntN(1000))
	}
	return fmt.Sprintf("+1%d55501%02d", 200+r.IntN(800), r.IntN(100))
}

func demoGUID(r *mrand.Rand) string {
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", r.Uint32(), r.Uint32()&0xffff, 0x4000|r.Uint32()&0x0fff, 0x8000|r.Uint32()&0x3fff, r.Uint64()&0xffffffffffff)
}

func demoCompanyName(r *mrand.Rand) string {
	name := demoCompanies[r.IntN(len(demoCompanies))]
	if r.IntN(3) > 0 {
		name += " " + demoTrades[r.IntN(len(demoTrades))]
	}
	if r.IntN(2) == 0 {
		name += " " + demoSuffixes[r.IntN(len(demoSuffixes))]
	}
	return name
}

// demoDomains makes one or two domains from a company name.
func demoDomains(name string, r *mrand.Rand) string {
	var b strings.Builder
	for _, c := range strings.ToLower(name) {
		if c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	slug := b.String()
	if len(slug) > 50 {
		slug = slug[:50]
	}
	tlds := []string{"com", "com", "com", "net", "co.uk", "ca", "com.au", "io"}
	d := slug + "." + tlds[r.IntN(len(tlds))]
	if r.IntN(5) == 0 {
		d += "," + slug + ".onmicrosoft.com"
	}
	return d
}

func demoZone(r *mrand.Rand) string {
	zones := []string{"", "", "", "America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles",
		"America/Toronto", "Europe/London", "Europe/Dublin", "Australia/Sydney"}
	return zones[r.IntN(len(zones))]
}

var demoCompanies = []string{
	"Contoso", "Fabrikam", "Northwind", "Tailspin", "Woodgrove", "Adventure Works", "Litware", "Proseware",
	"Wingtip", "Coho", "Alpine Ski House", "Blue Yonder", "Fourth Coffee", "Lucerne", "Margie's Travel",
	"Trey Research", "Wide World Importers", "Humongous", "City Power & Light", "Consolidated Messenger",
	"Relecloud", "VanArsdel", "A. Datum", "Lamna", "Nod Publishers", "Southridge", "Tasmanian Traders",
	"Bellows", "Best For You", "Boulder Creek", "Cascade", "Clearwater", "Copper Ridge", "Evergreen",
	"Granite Bay", "Harbor Point", "Ironwood", "Juniper", "Kestrel", "Lakeside", "Maple Leaf", "Meridian",
	"Oakridge", "Pinnacle", "Prairie Wind", "Redwood", "Riverbend", "Sagebrush", "Silver Lake", "Summit",
	"Sunrise", "Timberline", "Twin Peaks", "Union Square", "Valley View", "Westbrook", "Willow Creek",
}

var demoTrades = []string{
	"Dental", "Law", "Logistics", "Accounting", "Manufacturing", "Clinic", "Realty", "Engineering",
	"Architects", "Insurance", "Veterinary", "Construction", "Foods", "Credit Union", "Pharmacy",
	"Consulting", "Marketing", "Property Management", "Auto Group", "Academy",
}

var demoSuffixes = []string{"LLC", "Inc.", "Ltd", "Group", "& Co.", "Partners", "Corp."}

var demoNotes = []string{
	"Main contact: office manager. Call before rebooting the server.",
	"Hybrid: on-premises AD synced to Microsoft 365.",
	"VIP customer: escalate tickets to the account manager.",
	"After-hours support by arrangement only.",
	"Two sites; the branch office has its own domain controller.",
}

var demoFirstNames = []string{
	"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
	"William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
	"Christopher", "Lisa", "Daniel", "Nancy", "Matthew", "Betty", "Anthony", "Sandra", "Mark", "Margaret",
	"Donald", "Ashley", "Steven", "Kimberly", "Andrew", "Emily", "Paul", "Donna", "Joshua", "Michelle",
	"Kenneth", "Carol", "Kevin", "Amanda", "Brian", "Melissa", "George", "Deborah", "Timothy", "Stephanie",
	"Ronald", "Rebecca", "Jason", "Sharon", "Edward", "Laura", "Jeffrey", "Cynthia", "Ryan", "Dorothy",
	"Jacob", "Amy", "Gary", "Kathleen", "Nicholas", "Angela", "Eric", "Shirley", "Jonathan", "Emma",
	"Stephen", "Brenda", "Larry", "Pamela", "Justin", "Nicole", "Scott", "Anna", "Brandon", "Samantha",
	"Benjamin", "Katherine", "Samuel", "Christine", "Gregory", "Debra", "Alexander", "Rachel", "Patrick",
	"Carolyn", "Frank", "Janet", "Raymond", "Maria", "Jack", "Olivia", "Dennis", "Heather", "Jerry", "Helen",
	"Priya", "Wei", "Aisha", "Mateo", "Sofía", "Chloé", "Jürgen", "Zoë", "Omar", "Yuki", "Noah", "Liam",
}

var demoLastNames = []string{
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
	"Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
	"Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
	"Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
	"Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
	"Gomez", "Phillips", "Evans", "Turner", "Diaz", "Parker", "Cruz", "Edwards", "Collins", "Reyes",
	"Stewart", "Morris", "Morales", "Murphy", "Cook", "Rogers", "Gutierrez", "Ortiz", "Morgan", "Cooper",
	"Peterson", "Bailey", "Reed", "Kelly", "Howard", "Ramos", "Kim", "Cox", "Ward", "Richardson",
	"Watson", "Brooks", "Chavez", "Wood", "James", "Bennett", "Gray", "Mendoza", "Ruiz", "Hughes",
	"Price", "Alvarez", "Castillo", "Sanders", "Patel", "Myers", "Long", "Ross", "Foster", "Jimenez",
	"O'Brien", "Müller", "Nakamura", "Okafor", "Kowalski", "Dubois", "Rossi", "Singh", "Chen", "Novak",
}
