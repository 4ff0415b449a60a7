package bgjobtest

import "errors"

// ErrEnded is returned by the waits whose condition can no longer come
// true: [Recorder.WaitFor] and [Recorder.WaitJob] once the recording has
// ended (its subscription's channel closed), [WaitStatus] once the job has
// ended in a status that does not satisfy the predicate. Returning it at
// once, rather than when the context ends, makes a test that waits for the
// wrong thing fail fast, with what was seen.
var ErrEnded = errors.New("bgjobtest: nothing more will happen")
