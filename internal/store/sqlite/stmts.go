package sqlite

import (
	"context"
	"database/sql"
	"sync"

	"mailroom/internal/store"
)

// Reads go through prepared statements: SQLite's parser and planner then
// run once per query text instead of once per call, which is most of the
// cost of a small lookup (a SELECT's mailbox row, a login's account row).
// Every query text in this package is a constant, so the cache stays small;
// maxStmts bounds it anyway.
const maxStmts = 256

type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func (s *Store) stmt(ctx context.Context, q string) *sql.Stmt {
	s.stmts.mu.Lock()
	defer s.stmts.mu.Unlock()
	if st, ok := s.stmts.m[q]; ok {
		return st
	}
	if len(s.stmts.m) >= maxStmts {
		return nil
	}
	st, err := s.rdb.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	if s.stmts.m == nil {
		s.stmts.m = map[string]*sql.Stmt{}
	}
	s.stmts.m[q] = st
	return st
}

// query and queryRow run a read, then wait until what it may have seen is
// durable (readBarrier), unless ctx says it need not (store.Unsynced): the
// statement's first step, which takes the read snapshot, has run when they
// return.
func (s *Store) query(ctx context.Context, q string, args ...any) (rows *sql.Rows, err error) {
	if st := s.stmt(ctx, q); st != nil {
		rows, err = st.QueryContext(ctx, args...)
	} else {
		rows, err = s.rdb.QueryContext(ctx, q, args...)
	}
	if err == nil && !store.IsUnsynced(ctx) {
		if err = s.readBarrier(); err != nil {
			rows.Close()
			rows = nil
		}
	}
	return rows, err
}

func (s *Store) queryRow(ctx context.Context, q string, args ...any) *sql.Row {
	var row *sql.Row
	if st := s.stmt(ctx, q); st != nil {
		row = st.QueryRowContext(ctx, args...)
	} else {
		row = s.rdb.QueryRowContext(ctx, q, args...)
	}
	if !store.IsUnsynced(ctx) {
		s.readBarrier()
	}
	return row
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}

// wtx is the writer's transaction: Exec, Query and QueryRow go through
// statements prepared once on the writer's connection (the writer runs
// every write, so its parse time is the store's write throughput).
type wtx struct {
	*sql.Tx
	s *Store
}

// wstmt returns the writer's prepared statement for q, or nil when it is
// not prepared yet: the writer's one connection is inside a transaction
// here, so q is prepared after the commit (prepareWriter). Only the writer
// goroutine calls these.
func (s *Store) wstmt(q string) *sql.Stmt {
	if st, ok := s.wstmts.m[q]; ok {
		return st
	}
	if len(s.wstmts.m)+len(s.wpending) < maxStmts {
		if s.wpending == nil {
			s.wpending = map[string]bool{}
		}
		s.wpending[q] = true
	}
	return nil
}

// prepareWriter prepares the statements the last transactions lacked,
// between transactions.
func (s *Store) prepareWriter() {
	for q := range s.wpending {
		st, err := s.wdb.Prepare(q)
		if err == nil {
			if s.wstmts.m == nil {
				s.wstmts.m = map[string]*sql.Stmt{}
			}
			s.wstmts.m[q] = st
		}
		delete(s.wpending, q)
	}
}

func (t *wtx) Exec(q string, args ...any) (sql.Result, error) {
	if st := t.s.wstmt(q); st != nil {
		return t.Tx.Stmt(st).Exec(args...)
	}
	return t.Tx.Exec(q, args...)
}

func (t *wtx) Query(q string, args ...any) (*sql.Rows, error) {
	if st := t.s.wstmt(q); st != nil {
		return t.Tx.Stmt(st).Query(args...)
	}
	return t.Tx.Query(q, args...)
}

func (t *wtx) QueryRow(q string, args ...any) *sql.Row {
	if st := t.s.wstmt(q); st != nil {
		return t.Tx.Stmt(st).QueryRow(args...)
	}
	return t.Tx.QueryRow(q, args...)
}
