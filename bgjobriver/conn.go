package bgjobriver

import (
	"context"
	"database/sql"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// conn is the little this package asks of a database beyond what River
// does for it: run a statement, read one row, read a few. It is the pool
// River's driver uses, so the package never holds a connection of its own
// (with SQLite, the only one).
type conn interface {
	exec(ctx context.Context, query string, args ...any) (int64, error)
	// queryRow scans the one row of query into dest; errNoRow when there is
	// none.
	queryRow(ctx context.Context, query string, dest []any, args ...any) error
	// queryPairs returns the pairs of integers the query selects.
	queryPairs(ctx context.Context, query string, args ...any) ([][2]int64, error)
}

var errNoRow = errors.New("bgjobriver: no row")

// sqlConn is a database/sql pool (SQLite).
type sqlConn struct{ db *sql.DB }

func (c sqlConn) exec(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := c.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (c sqlConn) queryRow(ctx context.Context, query string, dest []any, args ...any) error {
	err := c.db.QueryRowContext(ctx, query, args...).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return errNoRow
	}
	return err
}

func (c sqlConn) queryPairs(ctx context.Context, query string, args ...any) ([][2]int64, error) {
	rows, err := c.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanPairs(rows)
}

// rowScanner is what database/sql's and pgx's rows have in common.
type rowScanner interface {
	Next() bool
	Scan(dest ...any) error
	Err() error
}

// scanPairs reads every row of rows as a pair of integers.
func scanPairs(rows rowScanner) ([][2]int64, error) {
	var out [][2]int64
	for rows.Next() {
		var p [2]int64
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// pgConn is a pgx pool (PostgreSQL).
type pgConn struct{ pool *pgxpool.Pool }

func (c pgConn) exec(ctx context.Context, query string, args ...any) (int64, error) {
	tag, err := c.pool.Exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

func (c pgConn) queryRow(ctx context.Context, query string, dest []any, args ...any) error {
	err := c.pool.QueryRow(ctx, query, args...).Scan(dest...)
	if errors.Is(err, pgx.ErrNoRows) {
		return errNoRow
	}
	return err
}

func (c pgConn) queryPairs(ctx context.Context, query string, args ...any) ([][2]int64, error) {
	rows, err := c.pool.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	return scanPairs(rows)
}
