package dashboard

// Action is what a control request asks to do to a job; an Authorizer is
// given it to decide.
type Action string

// The actions a control request can take. Starting a job is not one of
// them: what a service runs is its own code's decision.
const (
	// ActionCancel cancels a job, with the reason the request gives as
	// the cause its context sees.
	ActionCancel Action = "cancel"
	// ActionPause asks a job to pause at its next checkpoint.
	ActionPause Action = "pause"
	// ActionResume lets a paused job go on.
	ActionResume Action = "resume"
)

// actions lists every action, in the order the page shows them.
var actions = []Action{ActionPause, ActionResume, ActionCancel}
