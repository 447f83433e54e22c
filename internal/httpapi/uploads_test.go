package httpapi_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/keyplane/keyplane/api"
	"github.com/keyplane/keyplane/internal/servertest"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// uploadURL asks for a fresh upload URL of myorg/dev.
func (b *testBundle) uploadURL(t *testing.T) string {
	t.Helper()
	return decode[api.GenerateUploadURLResponse](t, b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}")).UploadURI
}

// heldUpload starts a PUT to uri that announces size bytes, sends half of
// them and waits; finish sends the rest and returns the answer's status.
type heldUpload struct {
	conn net.Conn
	size int
}

func holdUpload(t *testing.T, uri string, size int) *heldUpload {
	t.Helper()
	host, path, _ := strings.Cut(strings.TrimPrefix(uri, "http://"), "/")
	conn, err := net.Dial("tcp", host)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "PUT /%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/zip\r\nContent-Length: %d\r\n\r\n", path, host, size)
	require.NoError(t, err)
	_, err = conn.Write(make([]byte, size/2))
	require.NoError(t, err)
	return &heldUpload{conn: conn, size: size}
}

func (h *heldUpload) finish(t *testing.T) int {
	t.Helper()
	_, err := h.conn.Write(make([]byte, h.size-h.size/2))
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(h.conn), nil)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// announce PUTs to uri a request announcing size bytes of body and sending
// none, and returns the answer and how long it took to come.
func announce(t *testing.T, uri string, size int64) (*http.Response, time.Duration) {
	t.Helper()
	host, path, _ := strings.Cut(strings.TrimPrefix(uri, "http://"), "/")
	conn, err := net.Dial("tcp", host)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "PUT /%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/zip\r\nContent-Length: %d\r\n\r\n", path, host, size)
	require.NoError(t, err)
	start := time.Now()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	_, _ = io.ReadAll(resp.Body)
	return resp, time.Since(start)
}

// Replays of a used upload URL, which anyone who saw it may send, are
// answered at once, before a byte of their bodies is read.
func TestUpload_ReplaysOfAUsedURLAreAnsweredBeforeTheBody(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	uri := b.uploadURL(t)
	r := b.c.send("PUT", strings.TrimPrefix(uri, b.srv.URL), "application/zip", plainArchive(t))
	require.Equal(t, http.StatusOK, r.Status)

	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			resp, took := announce(t, uri, 60<<20)
			require.Equal(t, http.StatusBadRequest, resp.StatusCode)
			require.True(t, resp.Close, "the connection is closed rather than the body read")
			require.Less(t, took, 5*time.Second, "answered at once, not after the body idle timeout (30s)")
		})
	}
	wg.Wait()
}

// Twenty PUTs to one URL at once: the first claims the slot, the others
// are refused at once, and the first completes.
func TestUpload_ConcurrentPUTsToOneURLAreRefusedWhileItIsClaimed(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	uri := b.uploadURL(t)
	first := holdUpload(t, uri, 1<<20)
	// The first PUT has sent half its body: its slot is claimed before
	// any of it is stored. Waiting for the claim keeps a second PUT from
	// reaching the server first and claiming the slot itself.
	require.Eventually(t, func() bool {
		return countRows(t, b, `SELECT count(*) FROM archive_uploads WHERE claimed_at IS NOT NULL`) == 1
	},
		15*time.Second, 20*time.Millisecond, "the slot is claimed as soon as the first PUT begins")
	resp, took := announce(t, uri, 60<<20)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Less(t, took, 5*time.Second)
	var refused atomic.Int32
	var wg sync.WaitGroup
	for range 19 {
		wg.Go(func() {
			if resp, took := announce(t, uri, 60<<20); resp.StatusCode == http.StatusBadRequest && took < 5*time.Second {
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	require.Equal(t, int32(19), refused.Load())
	require.Equal(t, http.StatusOK, first.finish(t))
}

// Beyond the configured number of uploads in flight, an upload is refused
// at once with 429 and Retry-After.
func TestUpload_TooManyAtOnceAnswers429WithRetryAfter(t *testing.T) {
	t.Parallel()
	b := setupWith(t, servertest.Options{MaxConcurrentUploads: 1})
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE"}`)
	held := holdUpload(t, b.uploadURL(t), 1<<20)
	other := b.uploadURL(t)
	// The first upload streams (a chunk of it is stored) before the other
	// comes, so that the other cannot take the one place first.
	require.Eventually(t, func() bool { return countRows(t, b, `SELECT count(*) FROM archive_upload_chunks`) > 0 },
		15*time.Second, 20*time.Millisecond)
	var resp *http.Response
	var took time.Duration
	require.Eventually(t, func() bool {
		resp, took = announce(t, other, 1<<20)
		return resp.StatusCode == http.StatusTooManyRequests
	}, 5*time.Second, 20*time.Millisecond)
	require.Less(t, took, 5*time.Second, "answered at once, not after the body idle timeout (30s)")
	require.Equal(t, "5", resp.Header.Get("Retry-After"))
	require.Equal(t, http.StatusOK, held.finish(t))
	r := b.c.send("PUT", strings.TrimPrefix(other, b.srv.URL), "application/zip", plainArchive(t))
	require.Equal(t, http.StatusOK, r.Status, "once the first is done, the other URL is still good")
}

// A body without a length that outgrows the limit is cut off while it
// streams, and the URL may be used again.
func TestUpload_LimitIsEnforcedWhileStreaming(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	uri := b.uploadURL(t)
	req, err := http.NewRequest("PUT", uri, io.LimitReader(zeros{}, 65<<20)) // no ContentLength: chunked
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
	require.Contains(t, string(body), "archive exceeds the upload limit of 64 MiB")
	r := b.c.send("PUT", strings.TrimPrefix(uri, b.srv.URL), "application/zip", plainArchive(t))
	require.Equal(t, http.StatusOK, r.Status, "a failed upload gives its slot back")
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }

// Twenty 60 MiB uploads at once stream through the server: its heap grows
// by a few chunks per upload, never by the archives.
func TestUpload_MemoryStaysFlatUnderConcurrentLargeUploads(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 1.2 GiB")
	}
	b := setupWith(t, servertest.Options{MaxConcurrentUploads: 20})
	b.c.ok("POST", "/v1/organizations", `{"name":"myorg"}`)
	b.c.ok("POST", "/v1/organizations/myorg/environments", `{"name":"dev","deploymentType":"ARCHIVE"}`)
	uris := make([]string, 20)
	for i := range uris {
		uris[i] = b.uploadURL(t)
	}
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&m)
			if m.HeapInuse > peak.Load() {
				peak.Store(m.HeapInuse)
			}
		}
	}()
	var wg sync.WaitGroup
	statuses := make([]int, len(uris))
	for i, uri := range uris {
		wg.Go(func() {
			req, err := http.NewRequest("PUT", uri, io.LimitReader(zeros{}, 60<<20))
			if err != nil {
				return
			}
			req.ContentLength = 60 << 20
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			statuses[i] = resp.StatusCode
		})
	}
	wg.Wait()
	close(stop)
	<-sampled
	for i, s := range statuses {
		require.Equal(t, http.StatusOK, s, "upload %d", i)
	}
	growth := int64(peak.Load()) - int64(base.HeapInuse)
	t.Logf("heap in use: %d MiB before, %d MiB at the peak of 20 concurrent 60 MiB uploads", base.HeapInuse>>20, peak.Load()>>20)
	require.Less(t, growth, int64(100<<20), "20 x 60 MiB must not be held in memory")
}

// The gcsUri that anyone who may read a deployment sees is a used upload
// URL: it uploads nothing, and downloads nothing.
func TestUpload_GcsURIOfADeploymentCarriesNoUsableCredential(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	name := b.c.startDeploy(t, plainArchive(t))
	_ = name
	list := decode[api.ListArchiveDeploymentsResponse](t, b.c.ok("GET", envPath+"/archiveDeployments", ""))
	require.NotEmpty(t, list.ArchiveDeployments)
	gcs := list.ArchiveDeployments[0].GcsURI
	resp, took := announce(t, gcs, 1<<20)
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Less(t, took, 5*time.Second, "answered at once, not after the body idle timeout (30s)")
	get, err := http.Get(gcs)
	require.NoError(t, err)
	get.Body.Close()
	require.GreaterOrEqual(t, get.StatusCode, 400, "an upload URL is no download URL")
}

// countRows runs a count query on the test's database.
func countRows(t *testing.T, b *testBundle, query string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, b.srv.DatabaseURL)
	require.NoError(t, err)
	defer conn.Close(context.WithoutCancel(ctx))
	var n int
	require.NoError(t, conn.QueryRow(ctx, query).Scan(&n))
	return n
}

// TestUpload_ForgedURLIsRefusedBeforeItsBodyAndLeavesNoTrace sends the
// headers of a 30 MB upload to a forged URL and gets its refusal without
// sending the body; no audit entry is written for it.
func TestUpload_ForgedURLIsRefusedBeforeItsBodyAndLeavesNoTrace(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	conn, err := net.Dial("tcp", strings.TrimPrefix(b.srv.URL, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "PUT /archives/forged.token HTTP/1.1\r\nHost: x\r\nContent-Type: application/zip\r\nContent-Length: 30000000\r\n\r\n")
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusForbidden, res.StatusCode)

	// A genuine upload is recorded in its organization's log, by upload id,
	// never with the URL's token.
	up := decode[api.GenerateUploadURLResponse](t, b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}"))
	req, err := http.NewRequest("PUT", up.UploadURI, strings.NewReader("zip"))
	require.NoError(t, err)
	put, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	put.Body.Close()
	require.Equal(t, 200, put.StatusCode)

	ctx := context.Background()
	db, err := pgx.Connect(ctx, b.srv.DatabaseURL)
	require.NoError(t, err)
	defer db.Close(ctx)
	rows, err := db.Query(ctx, `SELECT org || ' ' || actor || ' ' || resource FROM audit_log WHERE method = 'PUT'`)
	require.NoError(t, err)
	entries, err := pgx.CollectRows(rows, pgx.RowTo[string])
	require.NoError(t, err)
	require.Len(t, entries, 1, "%v", entries)
	require.Regexp(t, `^myorg signed-url organizations/myorg/environments/dev/archiveUploads/[0-9a-f-]{36}$`, entries[0])
	token := up.UploadURI[strings.LastIndex(up.UploadURI, "/")+1:]
	require.NotContains(t, entries[0], token)
}

func TestUpload_ConcurrentUploadsToOneURLLetExactlyOneWin(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	conn := b.sql(t)
	up := decode[api.GenerateUploadURLResponse](t, b.c.ok("POST", envPath+"/archiveDeployments:generateUploadUrl", "{}"))

	// Another upload fills the slot and has not committed yet.
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	tag, err := tx.Exec(ctx, `UPDATE archive_uploads SET data = 'other', uploaded_at = now()`)
	require.NoError(t, err)
	require.Equal(t, int64(1), tag.RowsAffected())

	answer := make(chan *response, 1)
	zipBytes := plainArchive(t)
	go func() {
		answer <- b.c.send("PUT", strings.TrimPrefix(up.UploadURI, b.srv.URL), "application/zip", zipBytes)
	}()
	waitBlocked(t, conn)
	require.NoError(t, tx.Commit(ctx))

	r := <-answer
	require.Equal(t, 400, r.Status, string(r.Body))
	e := r.errorBody(t)
	require.Equal(t, "FAILED_PRECONDITION", e.Status)
	require.Equal(t, "upload URL was already used; generate a new one", e.Message)
	var data []byte
	require.NoError(t, conn.QueryRow(ctx, `SELECT data FROM archive_uploads`).Scan(&data))
	require.Equal(t, "other", string(data), "the winner's bytes are kept")
}

// A forged Host header does not make the server hand out an upload URL
// on another host: without KEYPLANE_PUBLIC_URL the URL names the address
// the connection came in on.
func TestUploadURI_IgnoresAForgedHost(t *testing.T) {
	t.Parallel()
	b := setupEnv(t, "PROGRAMMABLE")
	req, err := http.NewRequest("POST", b.srv.URL+envPath+"/archiveDeployments:generateUploadUrl", strings.NewReader("{}"))
	require.NoError(t, err)
	req.Host = "evil.example"
	req.Header.Set("Authorization", "Bearer "+b.srv.Token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.StatusCode, string(body))
	up := decode[api.GenerateUploadURLResponse](t, body)
	require.True(t, strings.HasPrefix(up.UploadURI, b.srv.URL+"/archives/"), up.UploadURI)
	require.NotContains(t, up.UploadURI, "evil")
}
