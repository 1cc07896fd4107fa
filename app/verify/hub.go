package verify

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/uptrace/bun"

	"github.com/latchkey/latchkey/db"
)

// DefaultPollInterval is how often the Hub asks the database about the
// verifications someone watches, for changes made by another process.
const DefaultPollInterval = 100 * time.Millisecond

// Hub tells watchers (the technicians' live panels) that a verification
// changed: at once for changes this process commits (Publish, called after
// commit), and within the poll interval for changes another process made
// (one query per tick over every watched verification, only while someone
// watches). Several server processes behind one PostgreSQL therefore keep
// each other's panels live.
type Hub struct {
	db   *db.DB
	poll time.Duration
	log  *slog.Logger

	mu       sync.Mutex
	watchers map[string]map[chan struct{}]struct{}
	versions map[string]int64 // the newest version known per watched id
	running  bool
	closed   bool
	done     chan struct{}
}

// NewHub returns a Hub that polls d every poll (DefaultPollInterval when 0).
func NewHub(d *db.DB, poll time.Duration, log *slog.Logger) *Hub {
	if poll <= 0 {
		poll = DefaultPollInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Hub{db: d, poll: poll, log: log, watchers: map[string]map[chan struct{}]struct{}{},
		versions: map[string]int64{}, done: make(chan struct{})}
}

// Watch registers interest in verification id, whose version the watcher
// has seen. The channel receives (coalesced) signals when the verification
// may have changed; the watcher reloads it. cancel ends the watch.
func (h *Hub) Watch(id string, version int64) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.watchers[id] == nil {
		h.watchers[id] = map[chan struct{}]struct{}{}
		h.versions[id] = version
	} else if version < h.versions[id] {
		h.versions[id] = version
	}
	h.watchers[id][ch] = struct{}{}
	if !h.running && !h.closed && h.db != nil {
		h.running = true
		go h.loop()
	}
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			delete(h.watchers[id], ch)
			if len(h.watchers[id]) == 0 {
				delete(h.watchers, id)
				delete(h.versions, id)
			}
		})
	}
}

// Publish signals the watchers of id in this process.
func (h *Hub) Publish(id string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.signal(id)
}

func (h *Hub) signal(id string) {
	for ch := range h.watchers[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Done is closed when the hub closes (server shutdown): live streams end.
func (h *Hub) Done() <-chan struct{} { return h.done }

// Close ends every watch's stream (Done) and the polling.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
}

// Watching returns how many verifications are watched (tests).
func (h *Hub) Watching() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.watchers)
}

// loop polls while anyone watches.
func (h *Hub) loop() {
	t := time.NewTicker(h.poll)
	defer t.Stop()
	for {
		select {
		case <-h.done:
			h.mu.Lock()
			h.running = false
			h.mu.Unlock()
			return
		case <-t.C:
		}
		h.mu.Lock()
		if len(h.watchers) == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		ids := make([]string, 0, len(h.watchers))
		for id := range h.watchers {
			ids = append(ids, id)
		}
		h.mu.Unlock()
		h.check(ids)
	}
}

// check reads the versions of ids and signals the ones that moved on.
func (h *Hub) check(ids []string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var rows []struct {
		ID      string `bun:"id"`
		Version int64  `bun:"version"`
	}
	if err := h.db.Bun.NewSelect().Table("verifications").Column("id", "version").
		Where("id IN (?)", bun.In(ids)).Scan(ctx, &rows); err != nil {
		h.log.Warn("verification hub: poll", "err", err)
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range rows {
		if known, ok := h.versions[r.ID]; ok && r.Version > known {
			h.versions[r.ID] = r.Version
			h.signal(r.ID)
		}
	}
}
