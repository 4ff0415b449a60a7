package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/bgjobprom"
	"github.com/bgjob/bgjob/dashboard"
)

// newMux builds every HTTP endpoint the demo serves, in one place: the
// dashboard d at the root, its page, JSON API and event streams, and the
// Runner r's metrics for Prometheus at /metrics.
func newMux(r *bgjob.Runner, d *dashboard.Handler) (*http.ServeMux, error) {
	collector, err := bgjobprom.NewCollector(r)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collector, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux := http.NewServeMux()
	mux.Handle("/", d)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux, nil
}

// localOnly is the demo's authorizer: whoever reaches the dashboard from
// this machine may pause, resume and cancel. A service would ask its own
// authentication instead.
func localOnly(r *http.Request, _ dashboard.Action) error {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err == nil && ip != nil && ip.IsLoopback() {
		return nil
	}
	return errors.New("control is for this machine only")
}

// server serves the dashboard of a Runner over HTTP.
type server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when Serve returned
}

// serve starts serving the dashboard of r on addr and returns at once.
func serve(r *bgjob.Runner, addr string) (*server, error) {
	d, err := dashboard.New(r, dashboard.WithAuthorizer(localOnly), dashboard.WithStacks(true))
	if err != nil {
		return nil, err
	}
	mux, err := newMux(r, d)
	if err != nil {
		d.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		d.Close()
		return nil, err
	}
	s := &server{
		srv:  &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		ln:   ln,
		done: make(chan struct{}),
	}
	// Shutdown waits for open responses, and an event stream never ends
	// on its own: the dashboard ends them first.
	s.srv.RegisterOnShutdown(d.Close)
	go func() {
		defer close(s.done)
		s.srv.Serve(ln)
	}()
	return s, nil
}

// url returns the address of the dashboard's page.
func (s *server) url() string { return fmt.Sprintf("http://%s/", s.ln.Addr()) }

// shutdown stops the server, waiting for open requests at most a few
// seconds.
func (s *server) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	<-s.done
	return err
}
