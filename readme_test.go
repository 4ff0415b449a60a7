package bgjob_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// readmePreludePath holds the declarations the README's blocks share: the
// names a reader of a fragment is assumed to have in scope.
const readmePreludePath = "testdata/readme_prelude.go.txt"

// readmeGenDir is where the generated package lives, in the go command's
// overlay only: inside the module, so that the module's packages resolve
// exactly as they do for any of its own packages, and under internal/, so that
// nothing could import it even if it were real.
const readmeGenDir = "internal/readmecheck"

// stdPackages maps the names README blocks may use as packages to their
// import paths. A file imports only the ones it uses, so the table can be
// generous.
var stdPackages = map[string]string{
	"atomic":   "sync/atomic",
	"bytes":    "bytes",
	"context":  "context",
	"errors":   "errors",
	"filepath": "path/filepath",
	"fmt":      "fmt",
	"http":     "net/http",
	"io":       "io",
	"iter":     "iter",
	"json":     "encoding/json",
	"log":      "log",
	"maps":     "maps",
	"os":       "os",
	"pprof":    "runtime/pprof",
	"rand":     "math/rand/v2",
	"runtime":  "runtime",
	"signal":   "os/signal",
	"slices":   "slices",
	"slog":     "log/slog",
	"strconv":  "strconv",
	"strings":  "strings",
	"sync":     "sync",
	"syscall":  "syscall",
	"time":     "time",
}

// TestREADMECompiles keeps the README's examples true to the API: a fragment
// that no longer compiles teaches readers code that does not work, and no
// other test reads the README.
func TestREADMECompiles(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: compiling README.md's ```go blocks runs go build")
	}
	markdown, err := os.ReadFile("README.md")
	require.NoError(t, err)
	prelude, err := os.ReadFile(readmePreludePath)
	require.NoError(t, err)

	require.NoError(t, compileMarkdown(t,
		namedText{name: "README.md", text: string(markdown)},
		namedText{name: readmePreludePath, text: string(prelude)}))
}

// TestREADMECheckerCatchesErrors shows the harness failing where the README
// would be wrong, on small synthetic markdown, so that a harness that passes
// everything cannot hide behind a good README.
func TestREADMECheckerCatchesErrors(t *testing.T) {
	t.Run("extraction", func(t *testing.T) {
		md := strings.Join([]string{
			"# Title",             // 1
			"",                    // 2
			"```go",               // 3
			"x := 1",              // 4
			"_ = x",               // 5
			"```",                 // 6
			"```sh",               // 7: not Go
			"go test ./...",       // 8
			"```",                 // 9
			"````markdown",        // 10: a fence inside is text
			"```go",               // 11
			"not Go",              // 12
			"```",                 // 13
			"````",                // 14
			"    ```go",           // 15: indented code, not a fence
			"- item",              // 16
			"  ```go title=\"x\"", // 17: attributes after the language
			"  return nil",        // 18
			"  ```",               // 19
			"```",                 // 20: no language
			"```",                 // 21
			"```golang",           // 22: another language, to us
			"```",                 // 23
		}, "\n")
		blocks, err := goBlocks(md)
		require.NoError(t, err)
		require.Equal(t, []goBlock{
			{line: 3, end: 6, code: "x := 1\n_ = x"},
			{line: 17, end: 19, code: "  return nil"},
		}, blocks)

		_, err = goBlocks("text\n```go\nx := 1\n")
		require.EqualError(t, err, "line 2: ```go block is never closed")
	})

	if testing.Short() {
		t.Skip("-short: the remaining cases run go build")
	}
	prelude := namedText{name: "prelude.go.txt", text: "var ctx = context.Background()\n\nvar epochs = 3\n"}
	for _, tt := range []struct {
		name string
		give string
		want []string // substrings of the error; none: it compiles
	}{
		{
			name: "good blocks",
			give: "Intro.\n\n```go\n" +
				// Redeclares what the next block declares, returns an error,
				// uses the prelude, and shadows the log package, which must
				// then not be imported for this file.
				"r, err := bgjob.NewRunner()\nif err != nil {\n\treturn err\n}\n" +
				"defer r.Shutdown(ctx)\nlog := slog.Default()\nlog.Info(\"epochs\", \"n\", epochs)\n" +
				"```\n\n```go\n" +
				"r, err := bgjob.NewRunner(bgjob.WithMaxRunning(2))\n" +
				"fmt.Println(r != nil, err)\nreturn nil\n" +
				"```\n",
		},
		{
			name: "unused variable",
			give: "Intro.\n\n```go\nfmt.Println(epochs)\n```\n\nMore.\n\n" +
				"```go\n" + // line 9
				"r, _ := bgjob.NewRunner()\n" +
				"st := r.Status()\n" + // line 11
				"```\n",
			want: []string{
				"synthetic.md: 1 of 2 ```go blocks do not compile",
				"the ```go block at synthetic.md:9:",
				"synthetic.md:11:1: declared and not used: st",
			},
		},
		{
			name: "undefined name",
			give: "```go\nfmt.Println(epochs, undefinedName)\n```\n",
			want: []string{"the ```go block at synthetic.md:1:", "synthetic.md:2:21: undefined: undefinedName"},
		},
		{
			// The compiler stops at a syntax error: only its block is named.
			name: "syntax error",
			give: "```go\nfmt.Println(epochs)\n```\n\n```go\nif {\n```\n",
			want: []string{
				"synthetic.md: 1 of 2 ```go blocks do not compile",
				"the ```go block at synthetic.md:5:",
				"synthetic.md:6:4: syntax error",
			},
		},
		{
			// The error is in the wrapper, after the block: it is reported
			// at the closing fence.
			name: "unbalanced brace",
			give: "```go\nfmt.Println(epochs) }\n```\n",
			want: []string{"the ```go block at synthetic.md:1:", "synthetic.md:3:"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := compileMarkdown(t, namedText{name: "synthetic.md", text: tt.give}, prelude)
			if len(tt.want) == 0 {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			for _, want := range tt.want {
				require.ErrorContains(t, err, want)
			}
		})
	}
}

// namedText is a file's contents and the name messages call it by.
type namedText struct {
	name, text string
}

// goBlock is one ```go fenced block of a markdown file.
type goBlock struct {
	line int    // of the opening fence; the code starts on the next line
	end  int    // of the closing fence
	code string // between the fences, verbatim
}

// goBlocks returns the ```go fenced blocks of markdown in order. It follows
// CommonMark as far as a README needs: fences of three or more backticks or
// tildes, indented at most three spaces, closed by a fence of the same
// character at least as long; the language is the first word of the info
// string. Other fenced blocks are skipped whole, so a ```go inside them is
// text.
func goBlocks(markdown string) ([]goBlock, error) {
	var (
		blocks []goBlock
		open   string // the opening fence's run of backticks or tildes, while in a block
		isGo   bool
		start  int
		code   []string
	)
	for i, line := range strings.Split(markdown, "\n") {
		line = strings.TrimSuffix(line, "\r")
		fence, info, ok := markdownFence(line)
		switch {
		case open == "" && ok:
			open, start, code = fence, i+1, nil
			lang, _, _ := strings.Cut(info, " ")
			isGo = lang == "go"
		case open != "" && ok && fence[0] == open[0] && len(fence) >= len(open) && info == "":
			if isGo {
				blocks = append(blocks, goBlock{line: start, end: i + 1, code: strings.Join(code, "\n")})
			}
			open = ""
		case open != "":
			code = append(code, line)
		}
	}
	if open != "" && isGo {
		return nil, fmt.Errorf("line %d: ```go block is never closed", start)
	}
	return blocks, nil
}

// markdownFence reports whether line is a code fence, and returns its run of
// fence characters and its info string.
func markdownFence(line string) (fence, info string, ok bool) {
	rest := strings.TrimLeft(line, " ")
	if len(line)-len(rest) > 3 || rest == "" || (rest[0] != '`' && rest[0] != '~') {
		return "", "", false
	}
	n := len(rest) - len(strings.TrimLeft(rest, rest[:1]))
	if n < 3 {
		return "", "", false
	}
	info = strings.TrimSpace(rest[n:])
	if rest[0] == '`' && strings.Contains(info, "`") {
		return "", "", false
	}
	return rest[:n], info, true
}

// compileMarkdown compiles each ```go block of md as the body of its own
// func() error — so a block may return an error or nil, and may redeclare
// another block's names — in one package with the declarations of prelude,
// with one go build. It returns nil if they compile, or an error naming each
// failing block by its line in md, with the compiler's messages, whose
// positions are md's.
func compileMarkdown(t *testing.T, md, prelude namedText) error {
	t.Helper()
	blocks, err := goBlocks(md.text)
	if err != nil {
		return fmt.Errorf("%s: %w", md.name, err)
	}
	if len(blocks) == 0 {
		// More likely a broken extraction, or fences renamed, than a README
		// that shows no code: either way, nothing would be checked.
		return fmt.Errorf("%s has no ```go block to compile", md.name)
	}

	root, err := os.Getwd()
	require.NoError(t, err)
	genDir := filepath.Join(root, readmeGenDir)
	_, err = os.Stat(genDir)
	require.ErrorIs(t, err, fs.ErrNotExist,
		"%s exists on disk; its files would be compiled with the README's blocks, so the overlay needs a directory of its own", readmeGenDir)
	modPath, known := modulePackages(t, root)
	maps.Copy(known, stdPackages)

	files := []genFile{
		{name: filepath.Join(genDir, "prelude_gen.go"), render: func(header string) string {
			return header + fmt.Sprintf("//line %s:1:1\n", absPath(root, prelude.name)) + prelude.text + "\n"
		}},
		{name: filepath.Join(genDir, "readme_gen.go"), render: func(header string) string {
			return renderBlocks(header, blocks, absPath(root, md.name))
		}},
	}
	sources := withUsedImports(modPath+"/"+readmeGenDir, files, known)

	tmp := t.TempDir()
	overlay := map[string]map[string]string{"Replace": {}}
	for name, src := range sources {
		tmpName := filepath.Join(tmp, filepath.Base(name))
		require.NoError(t, os.WriteFile(tmpName, []byte(src), 0o644))
		overlay["Replace"][name] = tmpName
	}
	overlayJSON, err := json.Marshal(overlay)
	require.NoError(t, err)
	overlayFile := filepath.Join(tmp, "overlay.json")
	require.NoError(t, os.WriteFile(overlayFile, overlayJSON, 0o644))

	// A package that is not main: go build compiles it and writes nothing.
	// -gcflags=-e: every error, not the first ten.
	cmd := exec.CommandContext(t.Context(), goTool(t), "build", "-overlay", overlayFile, "-gcflags=-e", "./"+readmeGenDir)
	cmd.Dir = root
	// GOFLAGS could add -mod=mod, -tags or anything else that changes what
	// compiles; the rest of the environment (GOWORK, the caches, GOPROXY)
	// is the caller's, as for the go test that runs this.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOFLAGS=") })
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	var exitErr *exec.ExitError
	require.ErrorAs(t, err, &exitErr, "go build did not run: %s", out)
	return buildError(root, md, prelude.name, blocks, string(out))
}

// absPath returns name, relative to root unless it is absolute: the //line
// directives name files by absolute path, so that go build, which shortens
// the paths under its working directory, prints them as the reader knows them.
func absPath(root, name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(root, name)
}

// genFile is a generated Go file: its path in the overlay, and its contents
// given the package clause and import declaration to start it with.
type genFile struct {
	name   string
	render func(header string) string
}

// renderBlocks returns the file of blocks, each in its own function.
// A //line directive before each function gives it the positions of the
// block's fences and code in the markdown file, so that the compiler's
// messages point there: the func line is the opening fence, the block's code
// is its own lines, and the closing "return nil }" is the closing fence.
func renderBlocks(header string, blocks []goBlock, mdPath string) string {
	var b strings.Builder
	b.WriteString(header)
	for i, blk := range blocks {
		fmt.Fprintf(&b, "//line %s:%d:1\nfunc readmeBlock%d() error {\n%s\nreturn nil }\n", mdPath, blk.line, i+1, blk.code)
	}
	return b.String()
}

// withUsedImports renders each file with an import for each package it uses,
// and no other, since an unused import does not compile. Which names are
// packages depends on scope — a block may declare log := p.Logger() and call
// log.Info — so go/types decides: each file is checked importing every known
// package, as an empty stub, and keeps those whose names it used. Everything
// else go/types reports is left to the compiler, which knows the real
// packages.
func withUsedImports(pkgPath string, files []genFile, known map[string]string) map[string]string {
	all := slices.Sorted(maps.Keys(known))
	fset := token.NewFileSet()
	var parsed []*ast.File
	for _, f := range files {
		// A syntax error is the compiler's to report; the partial tree
		// still shows which packages the rest uses.
		file, _ := parser.ParseFile(fset, f.name, f.render(importHeader(all, known)), parser.SkipObjectResolution)
		if file != nil {
			parsed = append(parsed, file)
		}
	}
	stubs := make(stubImporter)
	for name, p := range known {
		stubs[p] = name
	}
	conf := types.Config{Importer: stubs, Error: func(error) {}}
	info := &types.Info{Uses: make(map[*ast.Ident]types.Object)}
	_, _ = conf.Check(pkgPath, fset, parsed, info)

	used := make(map[string][]string)
	for id, obj := range info.Uses {
		if pkgName, ok := obj.(*types.PkgName); ok {
			file := fset.File(id.Pos()).Name()
			if !slices.Contains(used[file], pkgName.Name()) {
				used[file] = append(used[file], pkgName.Name())
			}
		}
	}
	sources := make(map[string]string, len(files))
	for _, f := range files {
		slices.Sort(used[f.name])
		sources[f.name] = f.render(importHeader(used[f.name], known))
	}
	return sources
}

// importHeader returns the package clause and the import of each of names.
func importHeader(names []string, known map[string]string) string {
	var b strings.Builder
	b.WriteString("package readmecheck\n\n")
	if len(names) > 0 {
		b.WriteString("import (\n")
		for _, name := range names {
			if p := known[name]; path.Base(p) == name {
				fmt.Fprintf(&b, "\t%q\n", p)
			} else {
				fmt.Fprintf(&b, "\t%s %q\n", name, p)
			}
		}
		b.WriteString(")\n\n")
	}
	return b.String()
}

// stubImporter maps import paths to package names, and imports each as an
// empty package: enough for go/types to tell a package name from a variable.
type stubImporter map[string]string

func (s stubImporter) Import(p string) (*types.Package, error) {
	name, ok := s[p]
	if !ok {
		return nil, fmt.Errorf("no stub for %q", p)
	}
	pkg := types.NewPackage(p, name)
	pkg.MarkComplete()
	return pkg, nil
}

// modulePackages returns the module's path and the packages a README may use
// by name: the root package and each importable one in a directory right
// below it, by their package clauses rather than their directory names.
func modulePackages(t *testing.T, root string) (string, map[string]string) {
	t.Helper()
	goMod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	var modPath string
	for line := range strings.Lines(string(goMod)) {
		if fields := strings.Fields(line); len(fields) >= 2 && fields[0] == "module" {
			modPath = strings.Trim(fields[1], `"`)
		}
	}
	require.NotEmpty(t, modPath, "no module line in %s", filepath.Join(root, "go.mod"))

	known := make(map[string]string)
	if name := packageName(t, root); name != "" {
		known[name] = modPath
	}
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	for _, e := range entries {
		dir := e.Name()
		if !e.IsDir() || dir == "internal" || dir == "testdata" || strings.HasPrefix(dir, ".") || strings.HasPrefix(dir, "_") {
			continue
		}
		if name := packageName(t, filepath.Join(root, dir)); name != "" && name != "main" {
			known[name] = modPath + "/" + dir
		}
	}
	return modPath, known
}

// packageName returns the package name of the Go files of dir that are not
// tests, or "" if it has none.
func packageName(t *testing.T, dir string) string {
	t.Helper()
	goFiles, err := filepath.Glob(filepath.Join(dir, "*.go"))
	require.NoError(t, err)
	for _, name := range goFiles {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.PackageClauseOnly)
		require.NoError(t, err)
		return f.Name.Name
	}
	return ""
}

// goTool returns the go command: on PATH, where go test puts the one running
// the tests, or else in this binary's GOROOT.
func goTool(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	_, err := os.Stat(p)
	require.NoError(t, err, "no go command on PATH or in GOROOT")
	return p
}

// compilerMessage matches a compiler message: file:line:col: text.
var compilerMessage = regexp.MustCompile(`^(.+?):(\d+):(\d+): `)

// buildError turns go build's output into an error that groups the
// compiler's messages by the block they fall in. Messages about other files
// (the prelude, the module's packages) follow as they are.
func buildError(root string, md namedText, preludeName string, blocks []goBlock, out string) error {
	mdPath := absPath(root, md.name)
	type message struct {
		block int // index in blocks, or -1
		text  string
	}
	var msgs []message
	for line := range strings.Lines(out) {
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "" || strings.HasPrefix(line, "# "):
			continue
		case strings.HasPrefix(line, "\t") && len(msgs) > 0:
			// The have/want lines that continue the message before.
			msgs[len(msgs)-1].text += "\n\t" + line
			continue
		}
		msg := message{block: -1, text: line}
		if m := compilerMessage.FindStringSubmatch(line); m != nil {
			file := m[1]
			if !filepath.IsAbs(file) {
				file = filepath.Join(root, file)
			}
			n, _ := strconv.Atoi(m[2])
			if filepath.Clean(file) == filepath.Clean(mdPath) {
				msg.block = slices.IndexFunc(blocks, func(b goBlock) bool { return n >= b.line && n <= b.end })
				msg.text = md.name + line[len(m[1]):]
			}
		}
		msgs = append(msgs, msg)
	}

	failing := make(map[int]bool)
	for _, m := range msgs {
		if m.block >= 0 {
			failing[m.block] = true
		}
	}
	var b strings.Builder
	if len(failing) > 0 {
		fmt.Fprintf(&b, "%s: %d of %d ```go blocks do not compile (each is the body of its own func() error, with the declarations of %s in scope)",
			md.name, len(failing), len(blocks), preludeName)
	} else {
		fmt.Fprintf(&b, "%s: its ```go blocks do not build, for reasons outside them", md.name)
	}
	for _, i := range slices.Sorted(maps.Keys(failing)) {
		fmt.Fprintf(&b, "\nthe ```go block at %s:%d:", md.name, blocks[i].line)
		for _, m := range msgs {
			if m.block == i {
				b.WriteString("\n\t" + m.text)
			}
		}
	}
	for _, m := range msgs {
		if m.block < 0 {
			b.WriteString("\nelsewhere: " + m.text)
		}
	}
	return fmt.Errorf("%s", b.String())
}
