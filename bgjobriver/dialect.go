package bgjobriver

import (
	"strings"

	"github.com/riverqueue/river/rivertype"
)

// dialect holds the statements this package runs on River's job table, for
// one database. River owns the table and its columns; this package writes
// only keys of its own in the job's metadata (see metadata.go), and moves a
// job out of the running state only when its heartbeat is stale, as River's
// own rescuer does for jobs past their timeout.
//
// Every write of an attempt is guarded by the attempt's identity: the job
// is running, its attempt number is the attempt's, and the last client
// that fetched it is this one. The attempt number alone would not do:
// River lowers it again (to the number before the attempt) when an attempt
// ends by its client's stop or by a snooze, so the next fetch, on another
// node, gets the same number. The pair holds: every fetch appends its node
// to attempted_by, and River lowers the number only as an attempt ends, so
// (attempt, last node) names one live attempt.
type dialect struct {
	// table is River's job table, with its schema.
	table string
	// heartbeat writes the heartbeat and the attempt's record, and returns
	// the cancel request (JSON text or ""), the pause flag and whether River
	// was asked to cancel. Args: id, attempt, node, run JSON.
	heartbeat string
	// checkpoint stores a checkpoint. Args: id, attempt, node, state JSON.
	checkpoint string
	// control sets one key of the metadata on a bgjob job not yet
	// finalized. Args: id, key, value JSON.
	control string
	// cancelRequest reads the cancel request. Args: id.
	cancelRequest string
	// stale selects (id, attempt) of running jobs whose heartbeat is older
	// than the given milliseconds. Args: queue, kind, stale ms.
	stale string
	// rescue moves a stale job to a state. Args: id, attempt, stale ms,
	// error JSON, and for the states that run again, the delay in seconds.
	rescue map[rivertype.JobState]string
}

func newDialect(sqlite bool, schema string) *dialect {
	table := "river_job"
	if schema != "" {
		table = `"` + schema + `".river_job`
	}
	var d *dialect
	if sqlite {
		d = sqliteDialect()
	} else {
		d = postgresDialect()
	}
	d.table = table
	for _, s := range []*string{&d.heartbeat, &d.checkpoint, &d.control, &d.cancelRequest, &d.stale} {
		*s = strings.ReplaceAll(*s, "{table}", table)
	}
	for k, s := range d.rescue {
		d.rescue[k] = strings.ReplaceAll(s, "{table}", table)
	}
	return d
}

func postgresDialect() *dialect {
	const nowMS = `(extract(epoch from clock_timestamp()) * 1000)::bigint`
	const owned = `id = $1 AND state = 'running' AND attempt = $2 AND attempted_by[array_length(attempted_by, 1)] = $3`
	const staleCond = `greatest(coalesce((metadata->>'bgjob_heartbeat')::bigint, 0), (extract(epoch from attempted_at) * 1000)::bigint) < ` + nowMS + ` - $3`
	rescue := func(state rivertype.JobState, final bool) string {
		set := `scheduled_at = clock_timestamp() + make_interval(secs => $5), finalized_at = NULL`
		if final {
			set = `finalized_at = clock_timestamp()`
		}
		return `UPDATE {table} SET state = '` + string(state) + `', ` + set + `,
			errors = array_append(errors, $4::jsonb),
			metadata = metadata || jsonb_build_object('bgjob_rescues', coalesce((metadata->>'bgjob_rescues')::int, 0) + 1)
			WHERE id = $1 AND attempt = $2 AND state = 'running' AND ` + staleCond
	}
	return &dialect{
		heartbeat: `UPDATE {table} SET metadata = metadata || jsonb_build_object('bgjob_heartbeat', ` + nowMS + `, 'bgjob_run', $4::jsonb)
			WHERE ` + owned + `
			RETURNING coalesce(metadata->>'bgjob_cancel', ''), coalesce((metadata->>'bgjob_pause')::boolean, false), metadata ? 'cancel_attempted_at'`,
		checkpoint: `UPDATE {table} SET metadata = metadata || jsonb_build_object('bgjob_heartbeat', ` + nowMS + `, 'bgjob_checkpoint', $4::jsonb)
			WHERE ` + owned,
		control:       `UPDATE {table} SET metadata = metadata || jsonb_build_object($2::text, $3::jsonb) WHERE id = $1 AND kind = '` + RiverKind + `' AND finalized_at IS NULL`,
		cancelRequest: `SELECT coalesce(metadata->>'bgjob_cancel', '') FROM {table} WHERE id = $1`,
		stale:         `SELECT id, attempt FROM {table} WHERE state = 'running' AND queue = $1 AND kind = $2 AND ` + staleCond + ` ORDER BY id LIMIT 100`,
		rescue: map[rivertype.JobState]string{
			rivertype.JobStateAvailable: rescue(rivertype.JobStateAvailable, false),
			rivertype.JobStateRetryable: rescue(rivertype.JobStateRetryable, false),
			rivertype.JobStateCancelled: rescue(rivertype.JobStateCancelled, true),
			rivertype.JobStateDiscarded: rescue(rivertype.JobStateDiscarded, true),
		},
	}
}

// sqliteDialect writes times as River's SQLite driver does, as text in the
// one format SQLite compares correctly ("2006-01-02 15:04:05.000", UTC),
// and keeps metadata in SQLite's binary JSON, as River stores it.
func sqliteDialect() *dialect {
	const nowMS = `CAST(unixepoch('subsec') * 1000 AS INTEGER)`
	const owned = `id = ?1 AND state = 'running' AND attempt = ?2 AND attempted_by ->> '$[#-1]' = ?3`
	const staleCond = `max(coalesce(json_extract(metadata, '$.bgjob_heartbeat'), 0), CAST(unixepoch(attempted_at, 'subsec') * 1000 AS INTEGER)) < ` + nowMS + ` - ?3`
	rescue := func(state rivertype.JobState, final bool) string {
		set := `scheduled_at = strftime('%Y-%m-%d %H:%M:%f', 'now', '+' || ?5 || ' seconds'), finalized_at = NULL`
		if final {
			set = `finalized_at = strftime('%Y-%m-%d %H:%M:%f', 'now')`
		}
		return `UPDATE {table} SET state = '` + string(state) + `', ` + set + `,
			errors = jsonb(json_insert(json(coalesce(errors, jsonb('[]'))), '$[#]', json(?4))),
			metadata = jsonb_set(metadata, '$.bgjob_rescues', coalesce(json_extract(metadata, '$.bgjob_rescues'), 0) + 1)
			WHERE id = ?1 AND attempt = ?2 AND state = 'running' AND ` + staleCond
	}
	return &dialect{
		heartbeat: `UPDATE {table} SET metadata = jsonb_set(metadata, '$.bgjob_heartbeat', ` + nowMS + `, '$.bgjob_run', jsonb(?4))
			WHERE ` + owned + `
			RETURNING coalesce(json_extract(metadata, '$.bgjob_cancel'), ''), coalesce(json_extract(metadata, '$.bgjob_pause'), 0), json_type(metadata, '$.cancel_attempted_at') IS NOT NULL`,
		checkpoint: `UPDATE {table} SET metadata = jsonb_set(metadata, '$.bgjob_heartbeat', ` + nowMS + `, '$.bgjob_checkpoint', jsonb(?4))
			WHERE ` + owned,
		control:       `UPDATE {table} SET metadata = jsonb_set(metadata, '$.' || ?2, jsonb(?3)) WHERE id = ?1 AND kind = '` + RiverKind + `' AND finalized_at IS NULL`,
		cancelRequest: `SELECT coalesce(json_extract(metadata, '$.bgjob_cancel'), '') FROM {table} WHERE id = ?1`,
		stale:         `SELECT id, attempt FROM {table} WHERE state = 'running' AND queue = ?1 AND kind = ?2 AND ` + staleCond + ` ORDER BY id LIMIT 100`,
		rescue: map[rivertype.JobState]string{
			rivertype.JobStateAvailable: rescue(rivertype.JobStateAvailable, false),
			rivertype.JobStateRetryable: rescue(rivertype.JobStateRetryable, false),
			rivertype.JobStateCancelled: rescue(rivertype.JobStateCancelled, true),
			rivertype.JobStateDiscarded: rescue(rivertype.JobStateDiscarded, true),
		},
	}
}
