package agentrun

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/latchkey/latchkey/app/agent/wire"
)

// State is what enrolment leaves on disk (mode 0600): the server and the
// agent's credential. The directory's bind password is never written: the
// server sends the configuration again after each start.
type State struct {
	Server     string    `json:"server"`
	AgentID    string    `json:"agent_id"`
	Credential string    `json:"credential"`
	Customer   string    `json:"customer"`
	CAFile     string    `json:"ca_file,omitempty"`
	EnrolledAt time.Time `json:"enrolled_at"`
}

// writeFile0600 replaces path atomically with a file only the owner can read.
func writeFile0600(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".latchkey-agent-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// LoadState reads the state file.
func LoadState(path string) (*State, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s does not exist: enrol first with `latchkey-agent enroll --server URL --token TOKEN`", path)
	}
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is readable by other users (mode %v): run chmod 600 on it", path, fi.Mode().Perm())
	}
	st := new(State)
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.Server == "" || st.Credential == "" {
		return nil, fmt.Errorf("%s: no server or credential: enrol again", path)
	}
	return st, nil
}

// entry is one task in the journal: written before the agent touches the
// directory, with the result once it has one, removed once the server has
// the result. After a crash it tells the agent what may have happened.
type entry struct {
	ID      string    `json:"id"`
	Kind    string    `json:"kind"`
	GUID    string    `json:"guid,omitempty"`
	Started time.Time `json:"started"`
	// PwdBefore: the user's pwdLastSet before a reset ("" unknown; "0" must change).
	PwdBefore string       `json:"pwd_before,omitempty"`
	Temporary bool         `json:"temporary,omitempty"`
	Result    *wire.Result `json:"result,omitempty"`
}

// journal is a small 0600 file of the tasks in flight.
type journal struct {
	mu      sync.Mutex
	path    string
	Entries map[string]*entry `json:"entries"`
}

func openJournal(path string) (*journal, error) {
	j := &journal{path: path, Entries: map[string]*entry{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return j, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, j); err != nil {
		return nil, fmt.Errorf("journal %s: %w", path, err)
	}
	if j.Entries == nil {
		j.Entries = map[string]*entry{}
	}
	return j, nil
}

func (j *journal) put(e *entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.Entries[e.ID] = e
	return writeFile0600(j.path, j)
}

func (j *journal) remove(id string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.Entries[id]; !ok {
		return nil
	}
	delete(j.Entries, id)
	return writeFile0600(j.path, j)
}

func (j *journal) list() []*entry {
	j.mu.Lock()
	defer j.mu.Unlock()
	out := make([]*entry, 0, len(j.Entries))
	for _, e := range j.Entries {
		c := *e
		out = append(out, &c)
	}
	return out
}
