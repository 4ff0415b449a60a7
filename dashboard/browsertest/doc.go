// Package browsertest tests the bgjob dashboard in a real browser:
// headless Chromium, driven by chromedp, against a Runner with real jobs
// behind an httptest server. It is a module of its own so that the
// core's go.mod gains nothing from it.
//
// Without a Chromium on the PATH (chromium, chromium-browser or
// google-chrome) the tests skip with a message; under CI=true they fail
// instead. On Debian: apt-get install -y chromium.
//
// Screenshots of the dashboard and of a job's page are saved as test
// artifacts: go test -artifacts -outputdir DIR keeps them.
package browsertest
