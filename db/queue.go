package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivertype"
)

type (
	pgxTx = pgx.Tx
	sqlTx = *sql.Tx
)

// Inserter enqueues a River job inside a transaction: the job exists if and
// only if the transaction commits. Domain services depend on this interface.
type Inserter interface {
	InsertTx(ctx context.Context, tx *Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
}

// Queue is a River client on this database, hiding whether it is the SQLite
// or the PostgreSQL flavour so that domain code never sees the difference.
type Queue struct {
	sqlite *river.Client[*sql.Tx]
	pg     *river.Client[pgx.Tx]
}

// NewQueue creates a River client on d with cfg. A cfg without Queues is an
// insert-only client (for `serve --no-workers`).
func NewQueue(d *DB, cfg *river.Config) (*Queue, error) {
	if d.Dialect == Postgres {
		c, err := river.NewClient(riverpgxv5.New(d.Pool), cfg)
		if err != nil {
			return nil, fmt.Errorf("db: river client: %w", err)
		}
		return &Queue{pg: c}, nil
	}
	c, err := river.NewClient(riversqlite.New(d.SQL), cfg)
	if err != nil {
		return nil, fmt.Errorf("db: river client: %w", err)
	}
	return &Queue{sqlite: c}, nil
}

// InsertTx enqueues args in tx.
func (q *Queue) InsertTx(ctx context.Context, tx *Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	if q.pg != nil {
		if tx.pgxTx == nil {
			return nil, errors.New("db: PostgreSQL queue given a SQLite transaction")
		}
		return q.pg.InsertTx(ctx, tx.pgxTx, args, opts)
	}
	if tx.sqlTx == nil {
		return nil, errors.New("db: SQLite queue given a PostgreSQL transaction")
	}
	return q.sqlite.InsertTx(ctx, tx.sqlTx, args, opts)
}

// InsertManyTx enqueues many jobs in tx (batched on PostgreSQL).
func (q *Queue) InsertManyTx(ctx context.Context, tx *Tx, params []river.InsertManyParams) ([]*rivertype.JobInsertResult, error) {
	if q.pg != nil {
		return q.pg.InsertManyTx(ctx, tx.pgxTx, params)
	}
	return q.sqlite.InsertManyTx(ctx, tx.sqlTx, params)
}

// Insert enqueues args outside any transaction.
func (q *Queue) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	if q.pg != nil {
		return q.pg.Insert(ctx, args, opts)
	}
	return q.sqlite.Insert(ctx, args, opts)
}

// Start starts working jobs (no-op work for an insert-only client is an error
// from River, so callers start only clients configured with queues).
func (q *Queue) Start(ctx context.Context) error {
	if q.pg != nil {
		return q.pg.Start(ctx)
	}
	return q.sqlite.Start(ctx)
}

// Stop soft-stops: no new jobs are fetched and running ones may finish until ctx ends.
func (q *Queue) Stop(ctx context.Context) error {
	if q.pg != nil {
		return q.pg.Stop(ctx)
	}
	return q.sqlite.Stop(ctx)
}

// StopAndCancel cancels running jobs and waits for them to return.
func (q *Queue) StopAndCancel(ctx context.Context) error {
	if q.pg != nil {
		return q.pg.StopAndCancel(ctx)
	}
	return q.sqlite.StopAndCancel(ctx)
}

// Subscribe returns a channel of job events of the given kinds and a cancel func.
func (q *Queue) Subscribe(kinds ...river.EventKind) (<-chan *river.Event, func()) {
	if q.pg != nil {
		return q.pg.Subscribe(kinds...)
	}
	return q.sqlite.Subscribe(kinds...)
}

// JobGet returns a job by id.
func (q *Queue) JobGet(ctx context.Context, id int64) (*rivertype.JobRow, error) {
	if q.pg != nil {
		return q.pg.JobGet(ctx, id)
	}
	return q.sqlite.JobGet(ctx, id)
}
