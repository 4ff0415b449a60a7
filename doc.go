// Package bgjob runs long jobs — model training above all — in the
// background of a Go service, and tells everyone exactly what those jobs are
// doing.
//
// A [Runner] starts each job in its own goroutine and returns a [Handle] at
// once, with the job running and alive (or queued, when [WithMaxRunning]
// jobs already run). While the job runs, the Runner publishes typed events
// to buffered channels, one per [Subscription] ([Runner.Subscribe]), and
// keeps a status snapshot that any goroutine can read at any time, without
// waiting for the job ([Handle.Status], [Runner.GetStatus]). Code that knows
// a job by id finds its handle with [Runner.Job].
//
// # The lifecycle of a job
//
// Every job produces these events, in this order, exactly once each:
//
//	info            the Runner accepted the job (job id, name, process id, worker id)
//	worker_started  the job's goroutine is running (start time)
//	progress *      zero or more: percent, step/total, message, rate, ETA
//	complete        succeeded | failed | canceled; duration; error; panic stack
//	worker_stopped  the goroutine has returned; nothing more will come for this job
//
// Between worker_started and complete come, as they happen, paused, resumed,
// stalled, unstalled and abandoned; a job that waits for a worker slot
// publishes queued right after info; a job canceled while queued never gets
// a goroutine and skips worker_started.
//
// A job that returns an error fails with it; a job that panics fails with a
// [*PanicError] holding the panic value and the panicking goroutine's stack,
// and the Runner goes on; a job whose context was canceled is canceled, with
// the cause given to [Handle.Cancel] ([context.Cause]).
//
// # Progress
//
// A job reports progress through the [*Progress] it is given. The numeric
// updates cost one atomic store: no lock, no allocation, no clock read. The
// Runner publishes the values as an [EventProgress] at most once per
// progress interval ([WithProgressInterval]) and only when they changed;
// the last progress before complete is always published. The status always
// shows the latest values.
//
// # Delivery guarantees
//
//   - The job never blocks on telemetry: reporting and finishing never wait
//     for a subscriber, however slow or absent.
//   - Every subscriber receives every event published after it subscribed,
//     in increasing sequence order, as long as its backlog stays within its
//     bound ([WithBacklog]). Beyond the bound, its [Policy] decides:
//     [Lagging] (the default) drops and then delivers an [EventLagged]
//     naming exactly the sequence numbers lost; [Lossless] makes new jobs
//     wait in [Runner.Start] until the reader catches up, while running jobs
//     never wait.
//   - Progress is coalesced: when a reader lags, a job's newer progress
//     replaces the older one it has not received yet; paused, resumed,
//     stalled and unstalled fold the same way into the job's newest state
//     ([Event.Folded]). Every event carries the job's state and progress.
//   - Loss is visible: [Subscription.Stats] counts what was folded and what
//     was lost, and an [EventLagged] names the jobs whose events it lost.
//   - Memory is bounded, for either policy: a subscriber holds at most its
//     backlog bound plus a few events per live job, plus a fixed number of
//     log lines ([WithLogBacklog]) of which it loses the oldest first.
//     Messages, log records and timelines are bounded too.
//   - Every event channel is closed by the Runner after its last event, once
//     [Runner.Shutdown] has been called and every job has ended (for a
//     [WithJob] subscription, after its job's worker_stopped), so
//     `for ev := range ch` ends.
//   - What a caller receives is its own: events, statuses, records, logs
//     and timelines are copies.
//
// # Workers, threads and processes
//
// Each job has a worker id and name, and its goroutine carries the pprof
// labels [LabelJobID] and [LabelJobName], so it can be found in a goroutine
// dump or a CPU profile. A job started with [LockOSThread] runs on an OS
// thread of its own, whose id and CPU time are reported too. Once a job
// has ended its goroutine may run the next job started (it waits up to a
// tenth of a second for one): a job that locks its thread itself must
// unlock it before it returns, or use [LockOSThread].
//
// # Job control
//
// [WithMaxRunning] limits the jobs running at once; the others wait in a
// queue, by [WithPriority] then first come, bounded by [WithMaxQueued].
// [Handle.Cancel] takes a cause; a job still running [WithCancelGrace] after
// it is reported abandoned. [Handle.Pause] parks the job at its next
// [Progress.Checkpoint], and [Handle.Resume] lets it go on; paused time is
// not run time. [WithTimeout] and [WithDefaultTimeout] cancel a job with
// [ErrTimeout]. [WithStallTimeout] reports a job that makes no progress,
// with the stacks of its goroutines.
//
// # What a run leaves behind
//
// A job logs through [Progress.Logger] (or [Logger] of its context): each
// record becomes an [EventLog], joins the job's log tail ([Handle.Logs])
// and goes to the Runner's logger ([WithLogger]). Finished jobs are kept,
// bounded and indexed by id, and read with [Runner.History]; a
// [HistoryStore] ([WithHistoryStore]) keeps them beyond, fed on a goroutine
// of the Runner's so that a slow store delays no one. Each job keeps a
// bounded timeline of its progress, pauses and stalls, with samples of the
// process's resources ([Handle.Timeline]).
//
// # Shutdown
//
// [Runner.Shutdown] stops accepting jobs and waits for the running ones,
// then for the history store. If its context ends first, it cancels the
// jobs with [ErrShutdown] as the cause and returns a [*ShutdownError]
// naming them; it never waits past its context.
package bgjob
