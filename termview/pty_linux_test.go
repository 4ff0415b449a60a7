package termview

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/bgjob/bgjob"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"
)

// openPTY opens a pseudo-terminal, as posix_openpt, grantpt and unlockpt
// do, and returns its two ends; it skips the test where there is none.
// The caller closes tty, which ends the reads on ptm.
func openPTY(t *testing.T, rows, cols uint16) (ptm, tty *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { ptm.Close() })
	fd := int(ptm.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Skipf("cannot unlock the pseudo-terminal: %v", err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	require.NoError(t, err)
	tty, err = os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("cannot open the terminal end: %v", err)
	}
	t.Cleanup(func() { tty.Close() })
	require.NoError(t, unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}))
	return ptm, tty
}

// readAll reads ptm on a goroutine of its own, which ends when the
// terminal end is closed, and returns a function that waits for it and
// returns what it read.
func readAll(ptm *os.File) func() string {
	done := make(chan string, 1)
	go func() {
		var b strings.Builder
		_, err := io.Copy(&b, ptm)
		// Linux reports EIO on the master once the terminal end is closed.
		if err != nil && !errors.Is(err, syscall.EIO) {
			b.WriteString("\nread error: " + err.Error())
		}
		done <- b.String()
	}()
	return func() string { return <-done }
}

func TestPTYLive(t *testing.T) {
	colourEnv(t)
	ptm, tty := openPTY(t, 24, 60)
	output := readAll(ptm)
	v := New(tty, Options{})
	require.True(t, v.out.live, "a terminal is live")
	require.True(t, v.out.colour)
	cols, rows := v.size()
	require.Equal(t, 60, cols, "the width comes from the terminal")
	require.Equal(t, 24, rows)

	play(v, script()[:8])
	drawn := v.drawn
	v.Close()
	require.NoError(t, tty.Close())

	var scr screen
	_, _ = scr.Write([]byte(output())) // the terminal adds \r before \n
	require.Empty(t, scr.unknown)
	assert.LessOrEqual(t, scr.widest, 60)
	lines := scr.lines()
	assert.Equal(t, "mlp-1 started (worker 1)", lines[0])
	assert.Equal(t, "[worker 1] INFO checkpoint saved path=/tmp/ckpt-200.pt", lines[len(lines)-1])
	for _, l := range drawn {
		assert.NotContains(t, lines, uncolour(l), "Close erased the live lines")
	}
}

func TestPTYPlain(t *testing.T) {
	for _, env := range []struct{ key, value string }{{"NO_COLOR", "1"}, {"NO_COLOR", ""}, {"TERM", "dumb"}} {
		t.Run(env.key+"="+env.value, func(t *testing.T) {
			colourEnv(t)
			t.Setenv(env.key, env.value)
			ptm, tty := openPTY(t, 24, 80)
			output := readAll(ptm)
			v := New(tty, Options{})
			require.False(t, v.out.live)
			play(v, script())
			v.Close()
			require.NoError(t, tty.Close())
			got := output()
			assert.NotContains(t, got, "\x1b")
			want, err := os.ReadFile("testdata/plain.golden")
			require.NoError(t, err)
			// The terminal turns each \n into \r\n; the bar is as
			// wide as at 80 columns, not 100.
			assert.Equal(t, strings.Count(string(want), "\n"), strings.Count(got, "\r\n"))
			assert.Contains(t, got, "mlp-1           running ██░░░░░░░░░░░░░░░░░░  10%  100/1000 50.0 it/s ETA 18.0s loss 0.9123\r\n")
		})
	}
}

// TestPTYHeight checks that the live area never gets taller than the
// screen less the cursor's line, since the cursor cannot go up past the
// top of the screen.
func TestPTYHeight(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	ptm, tty := openPTY(t, 4, 80)
	output := readAll(ptm)
	v := New(tty, Options{Live: new(true)})
	for i := range 6 {
		v.Event(bgjob.Event{Type: bgjob.EventInfo, JobID: uuid.New(), JobName: "job-" + strconv.Itoa(i),
			WorkerID: int64(i), State: bgjob.StateRunning})
	}
	require.Equal(t, []string{
		"job-0 running ░░░░░░░░░░░░░░░░░░░░   0%",
		"job-1 running ░░░░░░░░░░░░░░░░░░░░   0%",
		"… and 4 more jobs",
	}, v.drawn)
	v.Close()
	require.NoError(t, tty.Close())
	output()
}
