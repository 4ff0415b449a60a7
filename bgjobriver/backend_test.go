package bgjobriver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// backend is a database the tests run on: the test process opens clients on
// it, and node processes get its environment.
type backend struct {
	name    string
	nodeEnv []string
	open    func(t testing.TB, opts ...Option) *Client
}

func sqliteBackend(t testing.TB) backend {
	path := sqlitePath(t)
	return backend{
		name:    "sqlite",
		nodeEnv: []string{nodeDBEnv + "=sqlite:" + path},
		open:    func(t testing.TB, opts ...Option) *Client { return openSQLite(t, path, opts...) },
	}
}

// postgresURL returns the test server's URL: BGJOBRIVER_TEST_POSTGRES, or
// the local server the project's machines run. It skips the test when the
// server cannot be reached, and fails it under CI=true.
func postgresURL(t testing.TB) string {
	t.Helper()
	url := os.Getenv("BGJOBRIVER_TEST_POSTGRES")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err == nil {
		err = conn.Ping(ctx)
		_ = conn.Close(ctx)
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("PostgreSQL at %s is required under CI=true: %v", url, err)
		}
		t.Skipf("PostgreSQL at %s not reachable, skipping: %v", url, err)
	}
	return url
}

// postgresBackend makes a schema of the test's own, dropped at its end.
func postgresBackend(t testing.TB) backend {
	url := postgresURL(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	schema := "bgjobriver_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	_, err = conn.Exec(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	_ = conn.Close(ctx)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema: %v", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema: %v", err)
		}
	})
	return backend{
		name:    "postgres",
		nodeEnv: []string{nodeDBEnv + "=postgres:" + url, nodeSchemaEnv + "=" + schema},
		open: func(t testing.TB, opts ...Option) *Client {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			all := append(testOptions(), WithLogger(testLogger(t)), WithSchema(schema))
			c, err := OpenPostgres(ctx, url, append(all, opts...)...)
			require.NoError(t, err)
			t.Cleanup(func() { closeClient(t, c) })
			return c
		},
	}
}

// eachBackend runs f on SQLite and on PostgreSQL.
func eachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) { f(t, sqliteBackend(t)) })
	t.Run("postgres", func(t *testing.T) { f(t, postgresBackend(t)) })
}
