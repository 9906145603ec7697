package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-datastore"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/netabase/netabase/core"
)

// settings are a store's parsed options.
type settings struct {
	pool  *pgxpool.Config
	table string // the schema-qualified, quoted table name
	shown string // the table as a user names it: schema.table
	sync  bool
	// server names the server in messages: its host (or socket
	// directory), port and database.
	server string
}

// passwordInDSN finds a password in a keyword/value connection string.
var passwordInDSN = regexp.MustCompile(`(^|\s)password\s*=`)

// errPasswordInDSN refuses a dsn with a password in it, in URL or
// keyword/value form.
var errPasswordInDSN = errors.New("the dsn holds a password, which would show wherever the storage URL does (logs, the config file, netabase stats); put it in a password file (~/.pgpass, or the file PGPASSFILE names) and leave it out of the dsn")

func newSettings(dsn, schema, table string, sync bool, timeout time.Duration, conns int) (*settings, error) {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		if _, ok := u.User.Password(); ok || u.Query().Has("password") {
			return nil, errPasswordInDSN
		}
	} else if passwordInDSN.MatchString(dsn) {
		return nil, errPasswordInDSN
	}
	pc, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("the dsn is not a PostgreSQL connection string: %v", err)
	}
	if timeout <= 0 {
		return nil, errors.New("connect_timeout is 0; give the server some time to answer, such as 10s")
	}
	if schema == "" {
		return nil, errors.New("the schema option is empty; name the schema that holds the table (public by default)")
	}
	cc := pc.ConnConfig
	if cc.ConnectTimeout == 0 || cc.ConnectTimeout > timeout {
		cc.ConnectTimeout = timeout
	}
	// Every session commits as sync says, whatever the server's default.
	commit := "off"
	if sync {
		commit = "on"
	}
	cc.RuntimeParams["synchronous_commit"] = commit
	if cc.RuntimeParams["application_name"] == "" {
		cc.RuntimeParams["application_name"] = "netabase"
	}
	if conns > 0 {
		pc.MaxConns = int32(min(conns, 1<<20))
	}
	s := &settings{
		pool:  pc,
		table: pgx.Identifier{schema, table}.Sanitize(),
		shown: schema + "." + table,
		sync:  sync,
	}
	where := fmt.Sprintf("%s:%d", cc.Host, cc.Port)
	if strings.HasPrefix(cc.Host, "/") {
		where = fmt.Sprintf("socket %s/.s.PGSQL.%d", cc.Host, cc.Port)
	}
	s.server = fmt.Sprintf("%s (database %s, user %s)", where, cc.Database, cc.User)
	return s, nil
}

// connect opens a pool and checks that the server answers, within the
// connect timeout.
func (c *settings) connect(ctx context.Context) (*pgxpool.Pool, error) {
	pool, err := pgxpool.NewWithConfig(ctx, c.pool)
	if err != nil {
		return nil, fmt.Errorf("cannot use the PostgreSQL server %s: %v", c.server, err)
	}
	pctx, cancel := context.WithTimeout(ctx, c.pool.ConnConfig.ConnectTimeout)
	defer cancel()
	if err := pool.Ping(pctx); err != nil {
		pool.Close()
		return nil, c.connectErr(err)
	}
	return pool, nil
}

// connectErr explains why connecting failed: a server that is down or
// unreachable, a login the server refused, a database that does not exist.
func (c *settings) connectErr(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "3D000":
			return fmt.Errorf("the PostgreSQL server %s has no such database: %s; create it (createdb) or fix the dsn", c.server, pe.Message)
		case pe.Code == "28P01" || pe.Code == "28000":
			return fmt.Errorf("the PostgreSQL server %s refused the login: %s; check the dsn's user and the password file", c.server, pe.Message)
		case strings.HasPrefix(pe.Code, "57"):
			return fmt.Errorf("the PostgreSQL server %s is shutting down or starting up: %s", c.server, pe.Message)
		}
		return fmt.Errorf("the PostgreSQL server %s refused the connection: %s (SQLSTATE %s)", c.server, pe.Message, pe.Code)
	}
	return fmt.Errorf("cannot reach the PostgreSQL server %s within %s: it is down, or the dsn names the wrong host or port: %v",
		c.server, c.pool.ConnConfig.ConnectTimeout, err)
}

// store is a datastore.Batching over one table: key bytea primary key,
// value bytea. bytea compares bytewise, which is the datastore's key order.
type store struct {
	cfg  *settings
	pool *pgxpool.Pool
	// dirty is set by every write: Sync has nothing to flush without it.
	dirty atomic.Bool

	// The statements, with the table's name in them.
	get, has, size, put, del, putMany, delMany string
}

var (
	_ datastore.Batching = (*store)(nil)
	_ core.Seeker        = (*store)(nil)
)

// syncKey is a row the plugin keeps for itself: Sync writes it so that its
// commit, made with synchronous_commit=on, flushes the write-ahead log past
// every write acknowledged before. The empty key is no datastore key (they
// start with "/"), so no read or query of the store ever sees it.
var syncKey = []byte{}

func openStore(ctx context.Context, c *settings) (*store, error) {
	pool, err := c.connect(ctx)
	if err != nil {
		return nil, err
	}
	s := &store{cfg: c, pool: pool}
	t := c.table
	s.get = "SELECT value FROM " + t + " WHERE key = $1"
	s.has = "SELECT EXISTS (SELECT 1 FROM " + t + " WHERE key = $1)"
	s.size = "SELECT octet_length(value) FROM " + t + " WHERE key = $1"
	s.put = "INSERT INTO " + t + " (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
	s.del = "DELETE FROM " + t + " WHERE key = $1"
	s.putMany = "INSERT INTO " + t + " (key, value) SELECT * FROM unnest($1::bytea[], $2::bytea[]) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
	s.delMany = "DELETE FROM " + t + " WHERE key = ANY($1::bytea[])"
	if err := s.prepare(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// prepare creates the table when it is missing, and checks that an
// existing one has the store's shape.
func (s *store) prepare(ctx context.Context) error {
	_, err := s.pool.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+s.cfg.table+" (key bytea PRIMARY KEY, value bytea NOT NULL)")
	if err != nil {
		return s.fail(fmt.Sprintf("creating the table %s", s.cfg.shown), err)
	}
	rows, err := s.pool.Query(ctx, "SELECT key, value FROM "+s.cfg.table+" LIMIT 0")
	if err != nil {
		return s.fail(fmt.Sprintf("reading the table %s", s.cfg.shown), err)
	}
	fields := rows.FieldDescriptions()
	rows.Close()
	if err := rows.Err(); err != nil {
		return s.fail(fmt.Sprintf("reading the table %s", s.cfg.shown), err)
	}
	for _, f := range fields {
		if f.DataTypeOID != pgtype.ByteaOID {
			return fmt.Errorf("the table %s exists but is not a netabase store: its column %s is not bytea; name another table with the table option", s.cfg.shown, f.Name)
		}
	}
	return nil
}

// dropTable drops the table of a scratch store, if it is there.
func dropTable(ctx context.Context, c *settings) error {
	pool, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer pool.Close()
	if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS "+c.table); err != nil {
		return fmt.Errorf("dropping the scratch table %s on the PostgreSQL server %s: %v", c.shown, c.server, err)
	}
	return nil
}

// fail explains an error of an operation: a server that is down or
// unreachable is named as such.
func (s *store) fail(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57") {
			return fmt.Errorf("%s: the PostgreSQL server %s is down or going down: %s (SQLSTATE %s)", op, s.cfg.server, pe.Message, pe.Code)
		}
		return fmt.Errorf("%s: the PostgreSQL server %s: %s (SQLSTATE %s)", op, s.cfg.server, pe.Message, pe.Code)
	}
	return fmt.Errorf("%s: the PostgreSQL server %s is down or unreachable: %v", op, s.cfg.server, err)
}

func key(k datastore.Key) []byte { return []byte(k.String()) }

func (s *store) Get(ctx context.Context, k datastore.Key) ([]byte, error) {
	var v []byte
	err := s.pool.QueryRow(ctx, s.get, key(k)).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, datastore.ErrNotFound
	}
	if err != nil {
		return nil, s.fail("get "+k.String(), err)
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

func (s *store) Has(ctx context.Context, k datastore.Key) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, s.has, key(k)).Scan(&ok); err != nil {
		return false, s.fail("has "+k.String(), err)
	}
	return ok, nil
}

func (s *store) GetSize(ctx context.Context, k datastore.Key) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, s.size, key(k)).Scan(&n)
	if errors.Is(err, pgx.ErrNoRows) {
		return -1, datastore.ErrNotFound
	}
	if err != nil {
		return -1, s.fail("get the size of "+k.String(), err)
	}
	return n, nil
}

func (s *store) Put(ctx context.Context, k datastore.Key, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	if _, err := s.pool.Exec(ctx, s.put, key(k), value); err != nil {
		return s.fail("put "+k.String(), err)
	}
	s.dirty.Store(true)
	return nil
}

func (s *store) Delete(ctx context.Context, k datastore.Key) error {
	if _, err := s.pool.Exec(ctx, s.del, key(k)); err != nil {
		return s.fail("delete "+k.String(), err)
	}
	s.dirty.Store(true)
	return nil
}

// Sync makes every write acknowledged before it durable. With sync=true
// each was committed with synchronous_commit=on, so there is nothing to do.
// Otherwise it commits a write of the plugin's own row with
// synchronous_commit=on: the server flushes its write-ahead log up to that
// commit, which lies after every commit acknowledged before. It flushes
// every prefix at once.
func (s *store) Sync(ctx context.Context, _ datastore.Key) error {
	if s.cfg.sync || !s.dirty.Swap(false) {
		return nil
	}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL synchronous_commit = on"); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, s.put, syncKey, []byte{})
		return err
	})
	if err != nil {
		s.dirty.Store(true)
		return s.fail("sync", err)
	}
	return nil
}

func (s *store) Close() error {
	s.pool.Close()
	return nil
}

// Batch gathers writes and commits them in one transaction.
func (s *store) Batch(context.Context) (datastore.Batch, error) {
	return &batch{s: s, ops: map[string]*[]byte{}}, nil
}

// batch keeps the last write of each key: a value to put, or nil to delete.
type batch struct {
	s   *store
	ops map[string]*[]byte
}

func (b *batch) Put(_ context.Context, k datastore.Key, value []byte) error {
	v := value
	if v == nil {
		v = []byte{}
	}
	b.ops[k.String()] = &v
	return nil
}

func (b *batch) Delete(_ context.Context, k datastore.Key) error {
	b.ops[k.String()] = nil
	return nil
}

// Commit applies the batch in one transaction of at most two statements:
// one upsert of every put, one delete of every deleted key.
func (b *batch) Commit(ctx context.Context) error {
	var putKeys, putValues, delKeys [][]byte
	for k, v := range b.ops {
		if v == nil {
			delKeys = append(delKeys, []byte(k))
		} else {
			putKeys, putValues = append(putKeys, []byte(k)), append(putValues, *v)
		}
	}
	err := pgx.BeginFunc(ctx, b.s.pool, func(tx pgx.Tx) error {
		if len(delKeys) > 0 {
			if _, err := tx.Exec(ctx, b.s.delMany, delKeys); err != nil {
				return err
			}
		}
		if len(putKeys) > 0 {
			if _, err := tx.Exec(ctx, b.s.putMany, putKeys, putValues); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return b.s.fail(fmt.Sprintf("commit a batch of %d writes", len(b.ops)), err)
	}
	b.s.dirty.Store(true)
	b.ops = map[string]*[]byte{}
	return nil
}
