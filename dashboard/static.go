package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"time"
)

// The page: plain HTML, CSS and JavaScript, embedded so that the
// dashboard needs no build step, no network and no file beside the
// binary.
//
//go:embed static
var staticFS embed.FS

// asset is one embedded file, with a tag of its content for caching.
type asset struct {
	body []byte
	etag string
}

var assets = loadAssets()

func loadAssets() map[string]asset {
	m := map[string]asset{}
	entries, err := fs.ReadDir(staticFS, "static")
	if err != nil {
		panic("dashboard: embedded page missing: " + err.Error())
	}
	for _, e := range entries {
		b, err := fs.ReadFile(staticFS, path.Join("static", e.Name()))
		if err != nil {
			panic("dashboard: embedded page unreadable: " + err.Error())
		}
		sum := sha256.Sum256(b)
		m[e.Name()] = asset{body: b, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return m
}

func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	serveAsset(w, r, "index.html")
}

func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	if name == "index.html" {
		http.Redirect(w, r, "../", http.StatusMovedPermanently)
		return
	}
	serveAsset(w, r, name)
}

// serveAsset serves an embedded file, revalidated at every load (no-cache
// with an ETag): a new version of the dashboard is seen at once.
func serveAsset(w http.ResponseWriter, r *http.Request, name string) {
	a, ok := assets[name]
	if !ok {
		writeError(w, http.StatusNotFound, "no such file")
		return
	}
	w.Header().Set("ETag", a.etag)
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
