// Package reliability holds bgjob's model-based tests: random sequences of
// operations, checked step by step against a model of the documented
// behaviour, shrunk to a minimal failing sequence when they fail. It is a
// module of its own so that the core module's dependencies stay its own;
// it has no code besides its tests.
package reliability
