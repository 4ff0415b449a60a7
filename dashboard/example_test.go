package dashboard_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/bgjob/bgjob"
	"github.com/bgjob/bgjob/dashboard"
)

// The dashboard mounted under /jobs/ in a service's own mux, with control
// for requests the service's authentication marked as an operator's.
func Example() {
	r, err := bgjob.NewRunner()
	if err != nil {
		panic(err)
	}
	defer r.Shutdown(context.Background())

	h, err := dashboard.New(r, dashboard.WithAuthorizer(func(req *http.Request, a dashboard.Action) error {
		if req.Header.Get("X-Role") != "operator" { // set by the service's own authentication
			return errors.New("operators only")
		}
		return nil
	}))
	if err != nil {
		panic(err)
	}
	defer h.Close()

	mux := http.NewServeMux()
	mux.Handle("/jobs/", http.StripPrefix("/jobs", h))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	srv.Config.RegisterOnShutdown(h.Close)

	for _, path := range []string{"/jobs/", "/jobs/api/status", "/jobs/api/jobs/not-an-id"} {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// Output:
	// /jobs/ 200 text/html; charset=utf-8
	// /jobs/api/status 200 application/json
	// /jobs/api/jobs/not-an-id 400 application/json
}
