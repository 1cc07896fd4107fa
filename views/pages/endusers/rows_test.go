package endusers

import (
	"bytes"
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
)

// gridPage is a grid page of 50 rows with values of realistic length.
func gridPage() GridProps {
	p := GridProps{CSRF: strings.Repeat("t", 43), BasePath: "/end-users", TenantSelfServe: true,
		Status: "registered", Sort: "expires", Values: url.Values{"status": {"registered"}, "sort": {"expires"}},
		Total: 43188, Page: 1, PerPage: 50, Pages: 864}
	for i := range 50 {
		p.Rows = append(p.Rows, Row{ID: fmt.Sprintf("abcdefghijklmnopqrstuvw%03d", i), Name: "Jennifer Robinson", Username: fmt.Sprintf("jennifer.robinson%d", i),
			Email: fmt.Sprintf("jennifer.robinson%d@northwind-traders.example.com", i), Mobile: "+12125550123",
			EmailFrom: "from Active Directory", EmailFromShort: "AD", MobileFrom: "typed by a technician", MobileFromShort: "typed",
			Source: "Active Directory", StatusKey: "registered", StatusLabel: "Registration complete", SelfServe: i%2 == 0, Active: i%2 == 0,
			Expires: "Dec 3, 2026", ExpiresState: "soon", ExpiresIn: "in 12 days", CustomerID: "cust0123456789abcdefghijklm",
			CustomerName: "Northwind Traders Plumbing", TenantSelfServe: true, CSRF: p.CSRF})
	}
	return p
}

func render(t *testing.T, r Row) string {
	t.Helper()
	var b bytes.Buffer
	if err := RowView(r).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// TestRowViewEscapesValues checks that every value of a row is escaped as
// templ would escape it, in text and in attributes.
func TestRowViewEscapesValues(t *testing.T) {
	t.Parallel()
	evil := `<script>alert("x")</script>&'`
	r := Row{ID: "id1", Name: evil, Username: evil, Email: evil, Mobile: evil, EmailFrom: evil, EmailFromShort: evil,
		Source: evil, StatusKey: "accessed", StatusLabel: evil, Expires: evil, ExpiresState: "soon", ExpiresIn: evil,
		LastAccess: evil, CustomerID: evil, CustomerName: evil, TenantSelfServe: true, Privileged: true}
	out := render(t, r)
	if strings.Contains(out, "<script>") || strings.Contains(out, `"x"`) {
		t.Fatalf("unescaped value in %s", out)
	}
	want := `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&amp;&#39;`
	if n := strings.Count(out, want); n < 14 {
		t.Fatalf("%d escaped values, want every one: %s", n, out)
	}
}

// TestRowViewStates checks the markup tests and assistive technology rely
// on, in each state of a row.
func TestRowViewStates(t *testing.T) {
	t.Parallel()
	r := gridPage().Rows[0]
	out := render(t, r)
	for _, s := range []string{
		`<tr id="eu-abcdefghijklmnopqrstuvw000" data-testid="eu-row-jennifer.robinson0">`,
		`aria-label="Select Jennifer Robinson" data-testid="eu-check"`,
		`data-testid="eu-status" data-status="registered">Registration complete<`,
		`checked hx-post="/end-users/abcdefghijklmnopqrstuvw000/self-serve" hx-target="closest tr" aria-label="Self-serve for Jennifer Robinson" data-testid="eu-switch"`,
		`hx-get="/end-users/abcdefghijklmnopqrstuvw000/edit/email" data-testid="eu-edit-email"><span class="sr-only">Edit email of Jennifer Robinson, from Active Directory: </span>`,
		`<span class="eu-from" title="typed by a technician" aria-hidden="true">typed</span>`,
		`<span class="badge badge-warn">in 12 days</span>`,
		`<td class="eu-col-access eu-nil muted">Never</td>`,
	} {
		if !strings.Contains(out, s) {
			t.Errorf("no %s in %s", s, out)
		}
	}

	r.TenantSelfServe, r.Email, r.Focus = false, "", "mobile"
	out = render(t, r)
	for _, s := range []string{
		`<label class="switch eu-switch" title="` + TenantOffText + `">`,
		`disabled aria-label="Self-serve for Jennifer Robinson" aria-describedby="eu-tenant-off-desc" data-testid="eu-switch"`,
		`<span class="sr-only">Edit email of Jennifer Robinson: </span><span class="muted eu-add">Add email</span>`,
		`/edit/mobile" data-autofocus data-testid="eu-edit-mobile"`,
	} {
		if !strings.Contains(out, s) {
			t.Errorf("no %s in %s", s, out)
		}
	}

	// A value whose origin was not recorded: the accessible name says what
	// it edits, without an empty origin.
	r.Email, r.EmailFrom, r.EmailFromShort = "jr@northwind-traders.example.com", "", ""
	out = render(t, r)
	if want := `<span class="sr-only">Edit email of Jennifer Robinson: </span><span class="eu-value"`; !strings.Contains(out, want) {
		t.Errorf("no %s in %s", want, out)
	}
	if strings.Contains(out, `, : `) {
		t.Errorf("an empty origin in %s", out)
	}

	r.Editing, r.EditValue, r.EditError = "mobile", "07700", "Add the country code."
	out = render(t, r)
	for _, s := range []string{`data-testid="eu-input-mobile"`, `data-testid="eu-error-mobile"`, `hx-target="closest tr"`, `<td class="eu-col-username">`} {
		if !strings.Contains(out, s) {
			t.Errorf("editing: no %s in %s", s, out)
		}
	}
}

// BenchmarkRows renders the 50 rows of a grid page.
func BenchmarkRows(b *testing.B) {
	p := gridPage()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := Rows(p.Rows).Render(context.Background(), &buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes")
}

// BenchmarkResults renders a grid page's results (count, bulk bar, header,
// 50 rows, pages), as an htmx request gets them.
func BenchmarkResults(b *testing.B) {
	p := gridPage()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := Results(p).Render(context.Background(), &buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes")
}

// BenchmarkGridPage renders a whole grid page's content (filter with 100
// customers, results), as a full page gets it inside the layout.
func BenchmarkGridPage(b *testing.B) {
	p := gridPage()
	for i := range 100 {
		p.Customers = append(p.Customers, Option{Value: fmt.Sprintf("cust%022d", i), Label: fmt.Sprintf("Northwind Traders %d Plumbing", i)})
	}
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := Grid(p).Render(context.Background(), &buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes")
}
