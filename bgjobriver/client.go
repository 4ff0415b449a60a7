package bgjobriver

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/bgjob/bgjob"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite", without cgo
)

// riverClient is what this package uses of a River client; both
// *river.Client[*sql.Tx] and *river.Client[pgx.Tx] have it.
type riverClient interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
	StopAndCancel(ctx context.Context) error
	Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error)
	JobGet(ctx context.Context, id int64) (*rivertype.JobRow, error)
	JobList(ctx context.Context, params *river.JobListParams) (*river.JobListResult, error)
	JobCancel(ctx context.Context, id int64) (*rivertype.JobRow, error)
}

var (
	_ riverClient = (*river.Client[*sql.Tx])(nil)
	_ riverClient = (*river.Client[pgx.Tx])(nil)
)

// Client is one node of a durable bgjob deployment: it inserts jobs, reads
// their status and steers them from any node, and — when jobs are registered
// with WithJob — works them on a local bgjob.Runner.
//
// Make one with OpenSQLite or OpenPostgres; the zero value is not usable. All
// methods are safe for concurrent use. Call Close when done.
//
// A working client runs, besides River's own goroutines, one goroutine per
// running job that writes its heartbeat and status (ending before the job's
// attempt does), and one that takes back the jobs of dead nodes (ending at
// Close).
type Client struct {
	cfg     config
	river   riverClient
	conn    conn
	dialect *dialect
	runner  *bgjob.Runner
	closeDB func()
	working bool

	// abandon is closed when Close gives up waiting for running jobs: their
	// heartbeat writers stop, so that other nodes take the jobs back.
	abandon   chan struct{}
	stopSweep context.CancelFunc
	sweepDone chan struct{}

	closeMu sync.Mutex // guards closed
	closed  bool
}

// OpenSQLite opens (creating it if need be) the SQLite database at path and
// returns a client on it. SQLite is for the processes of one machine: they
// share the file. The connection is set up for several processes at once:
// WAL journal, a busy timeout of 10s, transactions that take the write lock
// when they begin (_txlock=immediate), and one open connection per process,
// as River's SQLite driver asks.
func OpenSQLite(ctx context.Context, path string, opts ...Option) (*Client, error) {
	if ctx == nil {
		return nil, bgjob.ErrNilContext
	}
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, invalid("sqlite path %q", path)
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	if cfg.schema != "" {
		return nil, invalid("schema with SQLite")
	}
	db, err := sql.Open("sqlite", "file:"+path+
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("bgjobriver: open sqlite: %w", err)
	}
	db.SetMaxOpenConns(1)
	c, err := open(ctx, cfg, riversqlite.New(db), sqlConn{db}, true, func() { _ = db.Close() })
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return c, nil
}

// OpenPostgres connects to the PostgreSQL database at url (a connection URL
// or DSN, as pgx takes it) and returns a client on it. PostgreSQL is for
// nodes on several machines; River is notified of inserts and cancellations
// with LISTEN/NOTIFY.
func OpenPostgres(ctx context.Context, url string, opts ...Option) (*Client, error) {
	if ctx == nil {
		return nil, bgjob.ErrNilContext
	}
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("bgjobriver: connect: %w", err)
	}
	c, err := open(ctx, cfg, riverpgxv5.New(pool), pgConn{pool}, false, pool.Close)
	if err != nil {
		pool.Close()
		return nil, err
	}
	return c, nil
}

func open[TTx any](ctx context.Context, cfg config, driver riverdriver.Driver[TTx], db conn, sqlite bool, closeDB func()) (*Client, error) {
	if cfg.migrate {
		m, err := rivermigrate.New(driver, &rivermigrate.Config{Logger: cfg.logger, Schema: cfg.schema})
		if err != nil {
			return nil, fmt.Errorf("bgjobriver: migrate: %w", err)
		}
		if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return nil, fmt.Errorf("bgjobriver: migrate: %w", err)
		}
	}
	if cfg.id == "" {
		host, _ := os.Hostname()
		cfg.id = fmt.Sprintf("%.60s_%d_%s", host, os.Getpid(), uuid.NewString()[:8])
	}
	runner, err := bgjob.NewRunner(cfg.runnerOpts...)
	if err != nil {
		return nil, err
	}
	c := &Client{
		cfg:     cfg,
		conn:    db,
		dialect: newDialect(sqlite, cfg.schema),
		runner:  runner,
		closeDB: closeDB,
		working: len(cfg.jobs) > 0,
		abandon: make(chan struct{}),
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &worker{c: c})
	rc := &river.Config{
		ID:                cfg.id,
		JobTimeout:        -1, // a training run has no natural deadline; dead nodes are found by heartbeat
		Logger:            cfg.logger,
		MaxAttempts:       cfg.maxAttempts,
		RetryPolicy:       cfg.retryPolicy,
		Schema:            cfg.schema,
		FetchPollInterval: cfg.fetchPoll,
		FetchCooldown:     min(cfg.fetchPoll, river.FetchCooldownDefault),
		Workers:           workers,
		TestOnly:          cfg.testOnly,
	}
	if c.working {
		rc.Queues = map[string]river.QueueConfig{cfg.queue: {MaxWorkers: cfg.maxWorkers}}
	}
	client, err := river.NewClient(driver, rc)
	if err != nil {
		_ = runner.Shutdown(ctx)
		return nil, fmt.Errorf("bgjobriver: %w", err)
	}
	c.river = client
	if c.working {
		// River stops when the context given to Start ends; the client's
		// life is bounded by Close instead.
		if err := client.Start(context.WithoutCancel(ctx)); err != nil {
			_ = runner.Shutdown(ctx)
			return nil, fmt.Errorf("bgjobriver: start: %w", err)
		}
		sweepCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
		c.stopSweep = stop
		c.sweepDone = make(chan struct{})
		go c.sweepLoop(sweepCtx)
	}
	return c, nil
}

// NodeID returns the client's id, as statuses name the node working a job.
func (c *Client) NodeID() string { return c.cfg.id }

// Runner returns the local Runner the jobs this node works run on: subscribe
// to it for their events, read their logs, timelines and history (each
// attempt is a run of its own there). Steer durable jobs through the
// Client, not through the Runner's handles: a cancellation through a local
// handle cancels the job for good, as Client.Cancel does, but pause and
// resume requests made locally are not seen by other nodes.
func (c *Client) Runner() *bgjob.Runner { return c.runner }

// Start inserts a job of the given kind, with input (any value JSON can
// encode, or nil) as its input, and returns its id. The job runs on
// whichever node takes it first; Status, Cancel, Pause, Resume and Wait
// take this id on any node. A client with jobs registered (WithJob) refuses
// kinds it does not know, with ErrUnknownKind; a client with none inserts
// any kind.
func (c *Client) Start(ctx context.Context, kind string, input any, opts ...StartOption) (int64, error) {
	if ctx == nil {
		return 0, bgjob.ErrNilContext
	}
	if c.isClosed() {
		return 0, ErrClosed
	}
	if !kindPattern.MatchString(kind) {
		return 0, fmt.Errorf("%w: %q", ErrUnknownKind, kind)
	}
	if _, ok := c.cfg.jobs[kind]; c.working && !ok {
		return 0, fmt.Errorf("%w: %q", ErrUnknownKind, kind)
	}
	sc := startConfig{name: kind}
	for _, o := range opts {
		if o == nil {
			return 0, invalid("nil start option")
		}
		if err := o.applyStart(&sc); err != nil {
			return 0, err
		}
	}
	if err := checkName(sc.name); err != nil {
		return 0, err
	}
	args := jobArgs{ID: uuid.New(), JobKind: kind, Name: sc.name}
	if input != nil {
		b, err := json.Marshal(input)
		if err != nil {
			return 0, fmt.Errorf("bgjobriver: input: %w", err)
		}
		if len(b) > MaxInputSize {
			return 0, fmt.Errorf("%w: %d bytes", ErrInputTooLarge, len(b))
		}
		args.Input = b
	}
	res, err := c.river.Insert(ctx, args, &river.InsertOpts{Queue: c.cfg.queue, MaxAttempts: sc.maxAttempts})
	if err != nil {
		return 0, fmt.Errorf("bgjobriver: insert: %w", err)
	}
	return res.Job.ID, nil
}

// checkName applies bgjob.Runner.Start's rules to a name before it is
// stored, so that a bad name fails at Start rather than at every attempt.
func checkName(name string) error {
	if name == "" || len(name) > bgjob.MaxNameLen || !utf8.ValidString(name) ||
		strings.ContainsFunc(name, unicode.IsControl) {
		return fmt.Errorf("%w: %q", bgjob.ErrInvalidName, name)
	}
	return nil
}

func (c *Client) isClosed() bool {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	return c.closed
}

// Close stops the node. It stops taking jobs and waits for the running ones
// to end, as long as ctx allows. When ctx ends first, it cancels them with
// ErrNodeStopping and waits up to the hand-over time (WithHandOver) for them
// to return: River then puts each back in the queue without counting the
// attempt, and another node resumes it from its last checkpoint. Jobs that
// ignore their cancellation longer than that are left running; their
// heartbeats stop, so other nodes take them back once the rescue window
// passes. Close then shuts the local Runner down and closes the database;
// when jobs were left running, the database closes in the background once
// they return (closing a pool waits for the connections in use), so that
// Close itself returns.
//
// Close returns nil when every job ended on its own, an error wrapping
// ctx's error when jobs were handed over. Calling it again returns nil.
func (c *Client) Close(ctx context.Context) error {
	if ctx == nil {
		return bgjob.ErrNilContext
	}
	c.closeMu.Lock()
	if c.closed {
		c.closeMu.Unlock()
		return nil
	}
	c.closed = true
	c.closeMu.Unlock()

	var errs []error
	runnerCtx := ctx
	abandoned := false
	if c.working {
		if err := c.river.Stop(ctx); err != nil {
			hctx, cancel := context.WithTimeout(context.Background(), c.cfg.handOver)
			herr := c.river.StopAndCancel(hctx)
			cancel()
			if herr != nil {
				close(c.abandon)
				abandoned = true
				errs = append(errs, fmt.Errorf("bgjobriver: jobs still running after hand-over, left to other nodes: %w", err))
			} else {
				errs = append(errs, fmt.Errorf("bgjobriver: running jobs handed over: %w", err))
			}
			var cancelRunner context.CancelFunc
			runnerCtx, cancelRunner = context.WithTimeout(context.Background(), time.Millisecond)
			defer cancelRunner()
		}
		c.stopSweep()
		<-c.sweepDone
	}
	if err := c.runner.Shutdown(runnerCtx); err != nil && len(errs) == 0 {
		errs = append(errs, err)
	}
	if abandoned {
		// Ends once the jobs left running return their connections.
		go c.closeDB()
	} else {
		c.closeDB()
	}
	return errors.Join(errs...)
}
