// Package reliability holds the tests that try hardest to break bgjob's
// promises, each in a testing/synctest bubble so that hours of the
// Runner's clock take seconds:
//
//   - a model of the Runner (TestRunnerFollowsTheModel): random sequences
//     of operations, checked step by step against the documented state
//     machine and delivery rules, shrunk by rapid to a minimal failing
//     sequence when they fail;
//   - a chaos run (TestChaos): 10,000 jobs with random fates and
//     subscribers that keep up, lag, stall or walk away, every event
//     audited; -chaos.seed replays a run's choices;
//   - a soak (TestSoak): six hours of a busy Runner, the live heap
//     sampled each hour.
//
// docs/reliability.md maps each guarantee to the test that holds it, with
// the figures of the last run. It is a module of its own so that the core
// module's dependencies stay its own; it has no code besides its tests.
package reliability
