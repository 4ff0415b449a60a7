// Package bench compares bgjob with the libraries its users would otherwise
// pick, on the same workload in the same run. It is a module of its own so
// that the core module does not depend on any of them.
package bench
