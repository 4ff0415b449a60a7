// Package bgjobriver runs bgjob jobs durably, on River
// (github.com/riverqueue/river): jobs survive the death of the process that
// started them, run on whichever node has room, and are watched and steered
// from any node — with SQLite for the processes of one machine and
// PostgreSQL for several machines.
//
// # One job, two ways to run it
//
// A job is the same bgjob.Job whether it runs on a plain bgjob.Runner or
// durably. Register it under a kind on every node that works it, insert it
// from any node, and read it back from any node:
//
//	c, err := bgjobriver.OpenSQLite(ctx, "jobs.db", bgjobriver.WithJob("train", trainJob))
//	…
//	id, err := c.Start(ctx, "train", TrainInput{Epochs: 50})
//	st, err := c.Status(ctx, id) // on any node: percent, step, metrics, node, process, attempt
//	err = c.Cancel(ctx, id, errors.New("superseded")) // arrives in the job as context.Cause
//
// On the node that works it, each attempt runs on the node's local Runner
// (Client.Runner), so there the job has everything a local job has: events,
// status, metrics, pause at checkpoints, logs, timeline, stall detection, and
// its run in the Runner's history. Each attempt is a run of its own.
//
// # What other nodes see
//
// The node working a job writes its bgjob.JobStatus, with a heartbeat, to the
// job's River row once a heartbeat interval (WithHeartbeat, a second by
// default) — coalesced, never once per update, and only while that attempt
// still owns the job. Status, List and Wait read it back on any node as a
// Status: the bgjob status, its state taken from River's, with the attempt,
// the node, the errors of failed attempts and the requests pending.
//
// # Control from any node
//
// Cancel reaches the job's context on whatever node runs it, with a
// *CancelError as context.Cause, within moments (River's notifications) or a
// heartbeat at most. Pause and Resume leave a request in the job's row that
// the working node applies at its next heartbeat through its Runner: the job
// parks at its next bgjob checkpoint, keeps its worker slot and its heartbeat.
//
// # When a node dies
//
// River takes back only jobs that ran past their timeout, and these jobs have
// none (River's JobTimeout is -1: a training run has no natural deadline). So
// every working node sweeps: a running job whose heartbeat is older than the
// rescue window goes back to the queue by River's retry policy, the loss
// counted as an attempt and recorded as an error. A job that saved a
// checkpoint (SaveCheckpoint) resumes from it (LoadCheckpoint) on the node
// that takes it. A node that cannot renew a heartbeat for half the window
// cancels the job itself (ErrLeaseLost), so that it stops before another node
// starts it.
//
// # Guarantees
//
//   - A job inserted is run until it succeeds, is canceled, or has used its
//     attempts (at least once, not exactly once: an attempt cut short runs
//     again, from its last checkpoint).
//   - Two nodes never work the same job at once, as long as the job returns
//     within half the rescue window of its context being canceled, and its
//     node reaches the database again within the window. Go cannot stop a
//     goroutine; a job that ignores its context can outlive its lease, and
//     when it returns, River's completer sets the job's state by id, over
//     whichever attempt runs it then (docs/durable.md, Fencing).
//   - The status other nodes read is at most a heartbeat old, plus the time
//     the write takes; the status on the working node is live.
//   - Retries follow River's policy; a node that stops cleanly hands its
//     jobs back without counting the attempt (River's soft stop).
//
// # SQLite and PostgreSQL
//
// OpenSQLite uses River's SQLite driver with modernc.org/sqlite (no cgo),
// set up for several processes on one file: WAL, a busy timeout, immediate
// transactions, one connection per process. OpenPostgres uses River's pgx
// driver and LISTEN/NOTIFY, for nodes on several machines. Both run River's
// migrations when they open, unless WithoutMigration.
package bgjobriver
