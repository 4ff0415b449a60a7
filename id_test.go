package bgjob

import (
	"testing"

	"github.com/google/uuid"
)

// The id's text kept for the job's pprof label is the id's canonical
// text, so that a label found in a profile is the id a user has.
func TestIDTextIsTheIDsText(t *testing.T) {
	for range 100 {
		id, err := newJobID()
		if err != nil {
			t.Fatal(err)
		}
		var text [36]byte
		hexUUID(&text, id)
		if string(text[:]) != id.String() {
			t.Fatalf("%s, want %s", text[:], id.String())
		}
		if id.Version() != 4 || id.Variant() != uuid.RFC4122 {
			t.Fatalf("%s: version %d, variant %v", id, id.Version(), id.Variant())
		}
	}
}
