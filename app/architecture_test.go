package app_test

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const module = "github.com/latchkey/latchkey"

// imports returns, per package directory (relative to the repo root), the
// in-module packages its non-test files import.
func imports(t *testing.T, root string) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "data" || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(p))
		rel = filepath.ToSlash(rel)
		if out[rel] == nil {
			out[rel] = map[string]bool{}
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if path == module || strings.HasPrefix(path, module+"/") {
				out[rel][strings.TrimPrefix(strings.TrimPrefix(path, module), "/")] = true
			}
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

func under(pkg string, prefixes ...string) bool {
	for _, p := range prefixes {
		if pkg == p || strings.HasPrefix(pkg, p+"/") {
			return true
		}
	}
	return false
}

// allowed says whether package pkg may import dep, following the layering of
// DESIGN.md: cmd → app → {app/web, jobs} → app/<domain> → {db, jobs/jobargs, app/apperr}.
func allowed(pkg, dep string) bool {
	leaves := []string{"app/apperr", "app/credential", "app/secret", "app/password", "app/config"}
	switch {
	case under(pkg, "db") && pkg != "db/dbtest":
		return false // db imports nothing of ours
	case pkg == "db/dbtest":
		return dep == "db"
	case pkg == "jobs/jobargs":
		return false
	case pkg == "app/csvfile":
		return dep == "app/apperr"
	case under(pkg, leaves...):
		return false
	case under(pkg, "app/directory/ad"):
		// The AD driver and its Samba test helper: nothing of ours but themselves.
		return under(dep, "app/directory/ad")
	case under(pkg, "app/agent/wire"):
		return false // the agent protocol: shared by the server and the agent program
	case under(pkg, "app/agentrun"):
		// The agent program (runs at a customer site): the protocol and the driver only.
		return under(dep, "app/agent/wire", "app/directory/ad", "app/agentrun")
	case pkg == "cmd/latchkey-agent":
		return under(dep, "app/agentrun")
	case under(pkg, "views"):
		return under(dep, "views")
	case under(pkg, "cmd"):
		return dep == "app" || under(dep, pkg)
	case pkg == "app":
		return !under(dep, "cmd", "e2e")
	case under(pkg, "app/apptest"):
		return !under(dep, "cmd", "e2e")
	case under(pkg, "app/web"):
		// Handlers never enqueue directly, and never reach into workers.
		return !under(dep, "cmd", "app/apptest", "jobs", "e2e") && dep != "app"
	case under(pkg, "jobs"):
		return !under(dep, "cmd", "app/web", "app/apptest", "e2e") && dep != "app"
	case under(pkg, "app"):
		// A domain package: domain packages, db, job args, the leaves.
		if dep == "app" || under(dep, "cmd", "app/web", "app/apptest", "views", "e2e") {
			return false
		}
		return !under(dep, "jobs") || dep == "jobs/jobargs"
	}
	return true
}

func TestImportRules(t *testing.T) {
	t.Parallel()
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	var bad []string
	for pkg, deps := range imports(t, root) {
		for dep := range deps {
			if !allowed(pkg, dep) {
				bad = append(bad, pkg+" → "+dep)
			}
		}
	}
	require.Empty(t, bad, "forbidden imports (see DESIGN.md, 'Who may import whom')")
}

func TestImportRulesCatchViolations(t *testing.T) {
	t.Parallel()
	// The rule itself must be able to fail.
	for _, c := range [][2]string{
		{"db", "app/login"}, {"jobs/jobargs", "db"}, {"app/login", "app/web"}, {"app/login", "jobs"},
		{"app/login", "views"}, {"views/pages/auth", "app/login"}, {"app/web", "jobs"}, {"app/secret", "db"},
		{"jobs", "app/web"}, {"cmd/latchkey", "app/web"}, {"app/directory/ad", "db"},
		{"app/agentrun", "app/agent"}, {"app/agentrun", "db"}, {"cmd/latchkey-agent", "app"},
	} {
		require.False(t, allowed(c[0], c[1]), "%s → %s must be forbidden", c[0], c[1])
	}
	for _, c := range [][2]string{
		{"app/login", "db"}, {"app/login", "jobs/jobargs"}, {"app/login", "app/audit"}, {"app/web", "app/login"},
		{"app/web", "views"}, {"jobs", "views/emails"}, {"jobs", "app/notify"}, {"cmd/latchkey", "app"},
		{"app/agentrun", "app/directory/ad"}, {"app/agent", "app/agent/wire"}, {"cmd/latchkey-agent", "app/agentrun"},
	} {
		require.True(t, allowed(c[0], c[1]), "%s → %s must be allowed", c[0], c[1])
	}
}
