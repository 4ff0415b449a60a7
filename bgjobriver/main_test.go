package bgjobriver

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// The multi-process tests start this test binary again as a node.
	if os.Getenv(nodeEnv) != "" {
		os.Exit(nodeMain())
	}
	goleak.VerifyTestMain(m)
}
