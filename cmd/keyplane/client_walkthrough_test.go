package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyplane/keyplane/internal/servertest"
)

// walkthroughPath is the newcomer's guide whose commands this test runs.
const walkthroughPath = "../../docs/mtls-walkthrough.md"

// docBlock is one fenced code block of a Markdown file.
type docBlock struct {
	line int    // line of the opening fence, 1-based
	info string // what follows the opening ```, such as "sh exit=1"
	body string
}

// docStep is a ```sh block to run, with its expected output and status.
type docStep struct {
	docBlock
	wantStatus int
	want       *docBlock // the ```text block right after it, if any
}

func readBlocks(t *testing.T, path string) []docBlock {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var (
		blocks []docBlock
		cur    *docBlock
		body   strings.Builder
		n      int
	)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		n++
		line := sc.Text()
		switch {
		case cur == nil && strings.HasPrefix(line, "```"):
			cur = &docBlock{line: n, info: strings.TrimSpace(strings.TrimPrefix(line, "```"))}
			body.Reset()
		case cur != nil && strings.TrimSpace(line) == "```":
			cur.body = body.String()
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(line + "\n")
		}
	}
	require.NoError(t, sc.Err())
	require.Nil(t, cur, "%s: a code block is not closed", path)
	return blocks
}

// readSteps extracts the ```sh blocks with the ```text block that follows
// each directly (only blank lines between).
func readSteps(t *testing.T, path string) []docStep {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	lines := strings.Split(string(raw), "\n")
	blocks := readBlocks(t, path)
	var steps []docStep
	for i, b := range blocks {
		fields := strings.Fields(b.info)
		if len(fields) == 0 || fields[0] != "sh" {
			continue
		}
		s := docStep{docBlock: b}
		for _, f := range fields[1:] {
			v, ok := strings.CutPrefix(f, "exit=")
			require.True(t, ok, "%s:%d: unknown fence attribute %q", path, b.line, f)
			s.wantStatus, err = strconv.Atoi(v)
			require.NoError(t, err, "%s:%d", path, b.line)
		}
		if i+1 < len(blocks) && blocks[i+1].info == "text" {
			end := b.line + strings.Count(b.body, "\n") + 1 // the closing fence
			between := strings.Join(lines[end:blocks[i+1].line-1], "")
			if strings.TrimSpace(between) == "" {
				s.want = &blocks[i+1]
			}
		}
		steps = append(steps, s)
	}
	return steps
}

var uuidPattern = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// outputPattern turns an expected output into a regular expression: "…"
// alone on a line matches any lines, "…" within a line any text, and every
// UUID any UUID.
func outputPattern(want string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString(`^`)
	for _, line := range strings.Split(strings.TrimRight(want, "\n"), "\n") {
		if strings.TrimSpace(line) == "…" {
			b.WriteString(`(?:[^\n]*\n)*`)
			continue
		}
		parts := strings.Split(strings.TrimRight(line, " "), "…")
		for i, p := range parts {
			if i > 0 {
				b.WriteString(`[^\n]*`)
			}
			q := regexp.QuoteMeta(p)
			b.WriteString(uuidPattern.ReplaceAllString(q, `[0-9a-f-]{36}`))
		}
		b.WriteString(`[ \t]*\n`)
	}
	b.WriteString(`$`)
	return regexp.MustCompile(b.String())
}

func TestOutputPattern_Wildcards(t *testing.T) {
	t.Parallel()
	p := outputPattern("a […] b\n…\nuuid 6b7dbb09-fa01-4cb1-8c3f-9393027b3d92\n")
	assert.Regexp(t, p, "a [x y] b\nuuid 00000000-1111-2222-3333-444444444444\n")
	assert.Regexp(t, p, "a [] b\none\ntwo\nuuid 00000000-1111-2222-3333-444444444444\n")
	assert.NotRegexp(t, p, "a [x] c\nuuid 00000000-1111-2222-3333-444444444444\n")
	assert.NotRegexp(t, p, "a [x] b\nuuid 00000000-1111-2222-3333-444444444444\nextra\n")
}

// readmePath is the README, whose sh blocks run before the walkthrough's.
const readmePath = "../../README.md"

// TestWalkthrough runs README.md and then docs/mtls-walkthrough.md as a
// newcomer would, one after the other against one fresh database: every
// ```sh block of each in order, in one bash session per document, with the
// keyplane binary on PATH, against a real server and gateway; each block's
// output must be what the doc shows, so the docs cannot go stale, and
// neither may depend on, or collide with, what the other made.
//
// The test stands in for `make run` and the reader's terminal: it starts
// the server and gateway, sets KEYPLANE_SERVER, KEYPLANE_TOKEN and
// KEYPLANE_GATEWAY to their URLs and the admin token, and runs the blocks
// in a scratch folder holding a copy of examples/, as the checkout's root
// holds it. Each document says so in a comment at its top.
func TestWalkthrough(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"openssl", "curl", "jq", "zip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the docs need %s: %v", tool, err)
		}
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", filepath.Join(bin, "keyplane"), ".")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "go build: %s", out)

	srv := servertest.Start(t)
	gw := servertest.StartGateway(t, srv, servertest.GatewayOptions{})
	work := t.TempDir()
	cp := exec.Command("cp", "-R", "../../examples", filepath.Join(work, "examples"))
	out, err = cp.CombinedOutput()
	require.NoError(t, err, "copy examples/: %s", out)
	// The backend openssl serves in the doc needs a port of its own.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	backendPort := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	env := []string{
		"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH"),
		"HOME=" + work,
		"LANG=C.UTF-8",
		"KEYPLANE_SERVER=" + srv.URL,
		"KEYPLANE_TOKEN=" + srv.Token,
		"KEYPLANE_GATEWAY=" + gw.URL,
		"BACKEND_PORT=" + strconv.Itoa(backendPort),
	}
	for _, doc := range []string{readmePath, walkthroughPath} {
		steps := readSteps(t, doc)
		require.NotEmpty(t, steps, doc)
		runDoc(t, doc, steps, work, env)
	}
}

// runDoc runs the steps of one document in one bash session in work with
// env, and checks each block's status and output.
func runDoc(t *testing.T, doc string, steps []docStep, work string, env []string) {
	t.Helper()
	state := t.TempDir()
	// One script: each block's output and status go to files of their own,
	// and an ERR trap records every command that fails.
	var script strings.Builder
	script.WriteString("set -o pipefail\n")
	fmt.Fprintf(&script, "trap 'printf \"%%s\\n\" \"$BASH_COMMAND\" >> %q/failed.$STEP' ERR\n", state)
	for i, s := range steps {
		fmt.Fprintf(&script, "STEP=%d\n{\n%s} > %q 2>&1 < /dev/null\necho $? > %q\n", i, s.body,
			filepath.Join(state, fmt.Sprintf("out.%d", i)), filepath.Join(state, fmt.Sprintf("status.%d", i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", "-s")
	cmd.Dir = work
	cmd.Stdin = strings.NewReader(script.String())
	cmd.Env = env
	// Whatever the doc leaves running in the background (its backends)
	// goes with the session's process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	out, err := cmd.CombinedOutput()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	require.NoError(t, err, "bash: %s", out)

	for i, s := range steps {
		where := fmt.Sprintf("%s:%d", filepath.Base(doc), s.line)
		got, err := os.ReadFile(filepath.Join(state, fmt.Sprintf("out.%d", i)))
		require.NoError(t, err, "%s: the block did not run", where)
		statusText, _ := os.ReadFile(filepath.Join(state, fmt.Sprintf("status.%d", i)))
		status, _ := strconv.Atoi(strings.TrimSpace(string(statusText)))
		failed, _ := os.ReadFile(filepath.Join(state, fmt.Sprintf("failed.%d", i)))

		if !assert.Equal(t, s.wantStatus, status, "%s: exit status of the block\n%s\noutput:\n%s", where, s.body, got) {
			continue
		}
		if s.wantStatus == 0 {
			assert.Empty(t, string(failed), "%s: commands failed\noutput:\n%s", where, got)
		}
		if s.want != nil {
			assert.Regexp(t, outputPattern(s.want.body), string(got), "%s: output differs from the doc\nwant:\n%s\ngot:\n%s", where, s.want.body, got)
		}
	}
}
