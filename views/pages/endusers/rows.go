package endusers

import (
	"context"
	"io"
	"sync"

	"github.com/a-h/templ"
)

// The grid's rows are written by hand rather than by templ: a page has 50 of
// them, about 15 dynamic values each, and templ's generated code formats
// every value with fmt.Sprint (an allocation each) and builds every
// concatenated attribute as a new string. Written straight into one buffer,
// the 50 rows take a tenth of the time (BenchmarkRows). The markup is the
// grid's (see Results in grid.templ); the editing cell stays in templ
// (EditCell), as it is rendered once at a time.

// Rows is the rows of a page of the grid, in order.
func Rows(rows []Row) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		rw := getRowWriter()
		defer putRowWriter(rw)
		for i := range rows {
			if err := rw.row(ctx, w, &rows[i]); err != nil {
				return err
			}
		}
		return rw.flush(w)
	})
}

// RowView is one end user's row. Inline edits and the switch swap it whole,
// so the status badge follows in the same swap. Its edit buttons inherit
// hx-target ("closest td") and hx-swap from the table body; the switch and
// the editing form aim at the row ("closest tr").
func RowView(r Row) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		rw := getRowWriter()
		defer putRowWriter(rw)
		if err := rw.row(ctx, w, &r); err != nil {
			return err
		}
		return rw.flush(w)
	})
}

// selectOptions is a select's options, the one whose value is value
// selected (the customer filter lists every customer of the tenant).
func selectOptions(opts []Option, value string) templ.Component {
	return templ.ComponentFunc(func(_ context.Context, w io.Writer) error {
		rw := getRowWriter()
		defer putRowWriter(rw)
		for _, o := range opts {
			rw.s(`<option value="`)
			rw.e(o.Value)
			if o.Value == value {
				rw.s(`" selected>`)
			} else {
				rw.s(`">`)
			}
			rw.e(o.Label)
			rw.s(`</option>`)
		}
		return rw.flush(w)
	})
}

// rowWriter collects markup in a byte slice, escaping values as it goes.
type rowWriter struct{ b []byte }

var rowWriters = sync.Pool{New: func() any { return &rowWriter{b: make([]byte, 0, 64<<10)} }}

func getRowWriter() *rowWriter { return rowWriters.Get().(*rowWriter) }

func putRowWriter(rw *rowWriter) {
	if cap(rw.b) <= 1<<20 {
		rw.b = rw.b[:0]
		rowWriters.Put(rw)
	}
}

func (rw *rowWriter) flush(w io.Writer) error {
	if len(rw.b) == 0 {
		return nil
	}
	_, err := w.Write(rw.b)
	rw.b = rw.b[:0]
	return err
}

// s writes markup as is.
func (rw *rowWriter) s(markup string) { rw.b = append(rw.b, markup...) }

// e writes text or an attribute value, HTML-escaped (the five characters
// templ.EscapeString escapes). Most values have none of them: a lookup per
// byte finds the next one (a switch per byte was 4% of a grid request).
func (rw *rowWriter) e(v string) {
	start := 0
	for i := 0; i < len(v); i++ {
		if !htmlSpecial[v[i]] {
			continue
		}
		rw.b = append(rw.b, v[start:i]...)
		rw.b = append(rw.b, htmlEscapes[v[i]]...)
		start = i + 1
	}
	rw.b = append(rw.b, v[start:]...)
}

// htmlSpecial marks the bytes e escapes, and htmlEscapes is what it writes
// for them.
var (
	htmlSpecial = [256]bool{'&': true, '<': true, '>': true, '"': true, '\'': true}
	htmlEscapes = [256]string{'&': "&amp;", '<': "&lt;", '>': "&gt;", '"': "&#34;", '\'': "&#39;"}
)

func (rw *rowWriter) row(ctx context.Context, w io.Writer, r *Row) error {
	rw.s(`<tr id="eu-`)
	rw.e(r.ID)
	rw.s(`" data-testid="eu-row-`)
	rw.e(r.Username)
	rw.s(`"><th scope="row" class="eu-col-name"><input type="checkbox" name="ids" value="`)
	rw.e(r.ID)
	rw.s(`" form="eu-bulk"`)
	if r.Checked {
		rw.s(` checked`)
	}
	rw.s(` aria-label="Select `)
	rw.e(r.Name)
	rw.s(`" data-testid="eu-check"> <a class="eu-name" href="/end-users/`)
	rw.e(r.ID)
	rw.s(`" data-testid="eu-name">`)
	rw.e(r.Name)
	rw.s(`</a>`)
	if r.Privileged {
		rw.s(` <span class="badge badge-warn" title="A privileged account (an administrator): self-serve is enabled one by one, never in bulk.">Privileged</span>`)
	}
	rw.s(`</th><td class="eu-col-status"><span class="`)
	rw.s(StatusBadge(r.StatusKey))
	rw.s(`" data-testid="eu-status" data-status="`)
	rw.e(r.StatusKey)
	rw.s(`">`)
	rw.e(r.StatusLabel)
	rw.s(`</span></td><td class="eu-col-switch">`)
	if r.TenantSelfServe {
		rw.s(`<label class="switch eu-switch"><input type="checkbox" role="switch" name="on" value="1"`)
		if r.SelfServe {
			rw.s(` checked`)
		}
		rw.s(` hx-post="/end-users/`)
		rw.e(r.ID)
		rw.s(`/self-serve" hx-target="closest tr" aria-label="Self-serve for `)
		rw.e(r.Name)
		rw.s(`"`)
		if r.Focus == "switch" {
			rw.s(` data-autofocus`)
		}
		rw.s(` data-testid="eu-switch"><span class="slider"></span></label>`)
		if r.SelfServe && !r.Active {
			rw.s(`<span class="small muted eu-waiting" data-testid="eu-waiting">needs email and mobile</span>`)
		}
	} else {
		rw.s(`<label class="switch eu-switch" title="`)
		rw.e(TenantOffText)
		rw.s(`"><input type="checkbox" role="switch"`)
		if r.SelfServe {
			rw.s(` checked`)
		}
		rw.s(` disabled aria-label="Self-serve for `)
		rw.e(r.Name)
		rw.s(`" aria-describedby="eu-tenant-off-desc" data-testid="eu-switch"><span class="slider"></span></label>`)
	}
	rw.s(`</td>`)
	for _, field := range [2]string{"email", "mobile"} {
		if r.Editing == field {
			// The editing cell: templ writes it after what is collected so far.
			if err := rw.flush(w); err != nil {
				return err
			}
			if err := EditCell(*r, field).Render(ctx, w); err != nil {
				return err
			}
			continue
		}
		rw.contactCell(r, field)
	}
	rw.s(`<td class="eu-col-username">`)
	rw.e(r.Username)
	rw.s(`</td><td class="eu-col-source">`)
	rw.e(r.Source)
	rw.s(`</td>`)
	if r.Expires == "" {
		rw.s(`<td class="eu-col-expires eu-nil muted">—</td>`)
	} else {
		rw.s(`<td class="eu-col-expires">`)
		rw.e(r.Expires)
		switch r.ExpiresState {
		case "expired":
			rw.s(` <span class="badge badge-danger">expired</span>`)
		case "soon":
			rw.s(` <span class="badge badge-warn">`)
			rw.e(r.ExpiresIn)
			rw.s(`</span>`)
		}
		rw.s(`</td>`)
	}
	if r.Locked {
		rw.s(`<td class="eu-col-locked"><span class="badge badge-danger">Locked</span></td>`)
	} else {
		rw.s(`<td class="eu-col-locked eu-nil muted">No</td>`)
	}
	if r.LastAccess == "" {
		rw.s(`<td class="eu-col-access eu-nil muted">Never</td>`)
	} else {
		rw.s(`<td class="eu-col-access">`)
		rw.e(r.LastAccess)
		rw.s(`</td>`)
	}
	rw.s(`<td class="eu-col-customer"><a href="/customers/`)
	rw.e(r.CustomerID)
	rw.s(`/end-users">`)
	rw.e(r.CustomerName)
	rw.s(`</a></td></tr>`)
	return nil
}

// contactCell is an email or mobile cell: the value as a button that opens
// the editor (its accessible name says what it edits and where the value
// came from), and a marker saying where the value came from.
func (rw *rowWriter) contactCell(r *Row, field string) {
	value := r.Value(field)
	rw.s(`<td class="eu-col-`)
	rw.s(field)
	// The button's id lets htmx give it the focus back when the row is
	// swapped while it has it (Tab from the other cell's editor).
	rw.s(`"><button class="eu-edit" id="eu-`)
	rw.e(r.ID)
	rw.s(`-`)
	rw.s(field)
	rw.s(`-edit" hx-get="/end-users/`)
	rw.e(r.ID)
	rw.s(`/edit/`)
	rw.s(field)
	rw.s(`"`)
	if r.Focus == field {
		rw.s(` data-autofocus`)
	}
	rw.s(` data-testid="eu-edit-`)
	rw.s(field)
	rw.s(`"><span class="sr-only">Edit `)
	rw.s(field)
	rw.s(` of `)
	rw.e(r.Name)
	if value == "" {
		rw.s(`: </span><span class="muted eu-add">Add `)
		rw.s(field)
		rw.s(`</span></button></td>`)
		return
	}
	if from := r.From(field); from != "" { // unknown for values stored before sources were kept
		rw.s(`, `)
		rw.e(from)
	}
	rw.s(`: </span><span class="eu-value" data-testid="eu-value-`)
	rw.s(field)
	rw.s(`">`)
	rw.e(value)
	rw.s(`</span></button>`)
	if short := r.FromShort(field); short != "" {
		rw.s(` <span class="eu-from" title="`)
		rw.e(r.From(field))
		rw.s(`" aria-hidden="true">`)
		rw.e(short)
		rw.s(`</span>`)
	}
	rw.s(`</td>`)
}
