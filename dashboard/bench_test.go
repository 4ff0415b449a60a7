package dashboard_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/dashboard"
)

// latencies is a histogram of delays at a 50µs grain up to a second.
type latencies struct {
	buckets [20_001]uint64
	n       uint64
}

const latencyGrain = 50 * time.Microsecond

func (l *latencies) add(d time.Duration) {
	i := min(int(d/latencyGrain), len(l.buckets)-1)
	l.buckets[max(i, 0)]++
	l.n++
}

func (l *latencies) merge(o *latencies) {
	for i, c := range o.buckets {
		l.buckets[i] += c
	}
	l.n += o.n
}

// quantile returns the delay below which q of the samples fall.
func (l *latencies) quantile(q float64) time.Duration {
	want := uint64(q * float64(l.n))
	var seen uint64
	for i, c := range l.buckets {
		seen += c
		if seen > want {
			return time.Duration(i+1) * latencyGrain
		}
	}
	return time.Duration(len(l.buckets)) * latencyGrain
}

// streamReader reads a stream as a browser would, and measures each
// progress event's delay from the job's update (the time the job wrote in
// its message) and from its publication (the event's timestamp).
type streamReader struct {
	update, publish latencies
	events          atomic.Uint64
}

func (sr *streamReader) read(body *bufio.Reader) {
	msg := []byte(`"message":"t=`)
	ts := []byte(`"timestamp":"`)
	for {
		line, err := body.ReadSlice('\n')
		if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
			return
		}
		if !bytes.HasPrefix(line, []byte("data: ")) {
			continue
		}
		// Every eighth event is timed, so that the readers, which run in
		// the benchmark's process, cost little of the CPU it measures.
		if sr.events.Add(1)%8 != 0 {
			continue
		}
		now := time.Now()
		if i := bytes.Index(line, msg); i >= 0 {
			rest := line[i+len(msg):]
			if j := bytes.IndexByte(rest, '"'); j > 0 {
				if ns, err := strconv.ParseInt(string(rest[:j]), 10, 64); err == nil {
					sr.update.add(now.Sub(time.Unix(0, ns)))
				}
			}
		}
		if i := bytes.Index(line, ts); i >= 0 {
			rest := line[i+len(ts):]
			if j := bytes.IndexByte(rest, '"'); j > 0 {
				if t, err := time.Parse(time.RFC3339Nano, string(rest[:j])); err == nil {
					sr.publish.add(now.Sub(t))
				}
			}
		}
	}
}

func heapAndStacks() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc + m.StackInuse
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkStreams: 1,000 jobs report progress and a metric each round
// (one op), published every 20ms, to 20 streams over loopback HTTP:
// 19 read as a browser does, one never reads. It reports the process's CPU
// per event published (server, jobs and the 19 readers together), the
// memory each stream adds, and the delay from a job's update to a reader's
// receipt, and from the event's publication to its receipt (one event in
// eight timed). Then it opens 200 more streams, which read, and reports
// the memory each adds once it waits for events.
func BenchmarkStreams(b *testing.B) {
	const (
		jobs     = 1000
		readers  = 19
		interval = 20 * time.Millisecond
	)
	r, err := bgjob.NewRunner(bgjob.WithProgressInterval(interval), bgjob.WithResourceInterval(time.Hour))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Shutdown(context.Background())
	h, err := dashboard.New(r, dashboard.WithWriteTimeout(time.Second))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close()

	var roundMu sync.Mutex
	round := make(chan struct{})
	nextRound := func() <-chan struct{} {
		roundMu.Lock()
		defer roundMu.Unlock()
		return round
	}
	var handles []*bgjob.Handle
	for i := range jobs {
		hd, err := r.Start(context.Background(), fmt.Sprintf("train-%04d", i), bgjob.JobFunc(func(ctx context.Context, p *bgjob.Progress) error {
			p.SetTotal(1 << 40)
			for step := int64(1); ; step++ {
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-nextRound():
				}
				p.SetMessage("t=" + strconv.FormatInt(time.Now().UnixNano(), 10))
				p.SetStep(step)
				p.Metric("loss", 1/float64(step))
			}
		}))
		if err != nil {
			b.Fatal(err)
		}
		handles = append(handles, hd)
	}
	defer func() {
		for _, hd := range handles {
			hd.Cancel(nil)
		}
	}()
	var wg sync.WaitGroup
	srs := make([]*streamReader, readers)
	var bodies []interface{ Close() error }
	for i := range srs {
		resp, err := http.Get(srv.URL + "/api/events")
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, resp.Body)
		sr := &streamReader{}
		srs[i] = sr
		wg.Go(func() { sr.read(bufio.NewReaderSize(resp.Body, 64<<10)) })
	}
	// The client that never reads: it sends its request and stops.
	stuck, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	fmt.Fprintf(stuck, "GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
	for h.Stats().Streams < readers+1 {
		time.Sleep(time.Millisecond)
	}

	b.ResetTimer()
	cpu0, published0, folded0 := cpuTime(), h.Stats().Subscription.Delivered, h.Stats().Subscription.Coalesced
	for range b.N {
		roundMu.Lock()
		close(round)
		round = make(chan struct{})
		roundMu.Unlock()
		time.Sleep(interval)
	}
	b.StopTimer()
	cpu, published := cpuTime()-cpu0, h.Stats().Subscription.Delivered-published0
	st := h.Stats()

	// What one more stream costs: its goroutine, its connection's buffers
	// and its batch on the server, and a reader that keeps 4 KB.
	const extra = 200
	before := heapAndStacks()
	var conns []net.Conn
	for range extra {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(c, "GET /api/events HTTP/1.1\r\nHost: x\r\n\r\n")
		conns = append(conns, c)
		wg.Go(func() {
			buf := make([]byte, 4<<10)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		})
	}
	for h.Stats().Streams < st.Streams+extra {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(2 * time.Second) // each has sent its snapshot and waits
	after := heapAndStacks()
	perStream := (float64(after) - float64(before)) / extra
	for _, c := range conns {
		c.Close()
	}
	stuck.Close()
	for _, body := range bodies {
		body.Close()
	}
	wg.Wait()

	var update, publish latencies
	var received uint64
	for _, sr := range srs {
		update.merge(&sr.update)
		publish.merge(&sr.publish)
		received += sr.events.Load()
	}
	if published == 0 {
		b.Log("no progress was published during the run: nothing to report")
		return
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(published), "cpu-ns/event")
	b.ReportMetric(float64(published)/float64(b.N), "events/op")
	b.ReportMetric(float64(st.Subscription.Coalesced-folded0)/float64(b.N), "folded-before-replay/op")
	b.ReportMetric(float64(received)/float64(readers)/float64(published), "received/published")
	b.ReportMetric(perStream, "B/stream")
	b.ReportMetric(float64(st.ReplayBytes), "replay-B")
	b.ReportMetric(float64(update.quantile(0.5).Microseconds())/1000, "update-p50-ms")
	b.ReportMetric(float64(update.quantile(0.99).Microseconds())/1000, "update-p99-ms")
	b.ReportMetric(float64(publish.quantile(0.5).Microseconds())/1000, "publish-p50-ms")
	b.ReportMetric(float64(publish.quantile(0.99).Microseconds())/1000, "publish-p99-ms")
	b.ReportMetric(float64(st.Streams), "streams-at-end")
}
