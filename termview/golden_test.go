package termview

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/stretchr/testify/require"
)

func TestGoldenLive(t *testing.T) {
	colourEnv(t)
	var out bytes.Buffer
	v := New(&out, Options{Live: new(true), Width: 100})
	play(v, script())
	v.Close()
	golden(t, "live", out.Bytes())
}

func TestGoldenLiveNoColor(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	var out bytes.Buffer
	v := New(&out, Options{Live: new(true), Width: 100})
	play(v, script())
	v.Close()
	require.NotContains(t, out.String(), "\x1b[3", "a forced live view honours NO_COLOR for colour")
	require.Contains(t, out.String(), "\x1b[2K", "and is live")
}

func TestGoldenPlain(t *testing.T) {
	colourEnv(t)
	var out bytes.Buffer
	v := New(&out, Options{Live: new(false), Width: 100})
	play(v, script())
	v.Close()
	require.NotContains(t, out.String(), "\x1b", "plain output has no ANSI")
	golden(t, "plain", out.Bytes())
}

// TestGoldenLiveArea records, step by step, what the live area shows on
// the screen: the readable form of live.golden.
func TestGoldenLiveArea(t *testing.T) {
	unsetEnv(t, "NO_COLOR")
	var (
		scr screen
		rec strings.Builder
	)
	v := New(&scr, Options{Live: new(true), Width: 100})
	for _, st := range script() {
		play(v, []step{st})
		fmt.Fprintf(&rec, "after %s\n", describe(st))
		lines := scr.lines()
		for _, l := range lines[len(lines)-len(v.drawn):] {
			fmt.Fprintf(&rec, "  |%s\n", l)
		}
	}
	v.Close()
	golden(t, "live-area", []byte(rec.String()))
}

func describe(st step) string {
	if st.println != "" {
		return "Println"
	}
	return fmt.Sprintf("%s of %s at %s", st.ev.Type, st.ev.JobName, st.ev.Time.Sub(t0))
}

// TestLiveScreen plays the script on an emulated terminal and checks,
// after every step, that the screen holds what was printed above the live
// area, never rewritten, and below it exactly the live lines, none wider
// than the width, with the cursor on the line below them.
func TestLiveScreen(t *testing.T) {
	colourEnv(t)
	for _, cols := range []int{100, 60, 30} {
		t.Run(fmt.Sprint(cols), func(t *testing.T) {
			var scr screen
			v := New(&scr, Options{Live: new(true), Width: cols})
			var history []string
			for i, st := range script() {
				play(v, []step{st})
				lines := scr.lines()
				live := len(v.drawn)
				require.GreaterOrEqual(t, len(lines), live, "step %d", i)
				above := lines[:len(lines)-live]
				require.True(t, slices.Equal(history, above[:len(history)]),
					"step %d rewrote what was printed above:\n%q\n%q", i, history, above)
				history = above
				for k, l := range v.drawn {
					require.Equal(t, uncolour(l), lines[len(lines)-live+k], "step %d: live line %d", i, k)
					require.LessOrEqual(t, width(uncolour(l)), cols, "step %d: live line %d too wide", i, k)
				}
				require.Equal(t, len(lines), scr.row, "step %d: the cursor is below the area", i)
				require.Zero(t, scr.col, "step %d", i)
			}
			require.Empty(t, scr.unknown)
			require.Empty(t, v.drawn, "every job completed")
		})
	}
}

func TestCloseClearsLiveArea(t *testing.T) {
	unsetEnv(t, "NO_COLOR")
	var scr screen
	v := New(&scr, Options{Live: new(true), Width: 100})
	play(v, script()[:8]) // both jobs running, a log line printed
	require.Len(t, v.drawn, 2)
	before := scr.lines()
	printed := before[:len(before)-2]

	v.Close()
	require.Equal(t, printed, scr.lines(), "only what was printed above is left")
	require.Equal(t, len(printed), scr.row, "the cursor is where the area began")
	require.Zero(t, scr.col)

	rows := len(scr.rows)
	v.Close()
	v.Event(script()[8].ev) // ignored
	require.Equal(t, printed, scr.lines(), "a second Close and a late event write nothing")
	require.Len(t, scr.rows, rows)

	v.Println("after", "close")
	require.Equal(t, append(printed, "after close"), scr.lines(), "Println still prints")
}

func TestPlainThrottle(t *testing.T) {
	var out bytes.Buffer
	v := New(&out, Options{Live: new(false), PlainEvery: time.Minute})
	ev := withSteps(jobA(bgjob.EventProgress, 0, bgjob.StateRunning), 1, 10, 1, 9*time.Second)
	for i := range int64(10) {
		ev.Time, ev.Step, ev.Percent = at(float64(i)), i+1, float64(i+1)*10
		v.Event(ev)
	}
	done := jobA(bgjob.EventComplete, 10, bgjob.StateSucceeded)
	done.Duration = 10 * time.Second
	v.Event(done)
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 3, "the first progress, the last one and the completion:\n%s", out.String())
	require.Contains(t, lines[0], " 1/10")
	require.Contains(t, lines[1], "10/10")
	require.Equal(t, "mlp-1 completed successfully (Duration: 10.0s)", lines[2])
}
