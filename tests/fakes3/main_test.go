package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPathAndVirtualHostStyle: an object uploaded in path style with SSE headers is listed and
// downloaded in virtual-host style, and HEAD returns the encryption the upload asked for.
func TestPathAndVirtualHostStyle(t *testing.T) {
	handler, err := newServer([]string{"certctl-backups"})
	require.NoError(t, err)
	server := httptest.NewServer(handler)
	defer server.Close()

	do := func(method, host, path, body string, header map[string]string) *http.Response {
		t.Helper()
		req, err := http.NewRequest(method, server.URL+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Host = host
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	read := func(resp *http.Response) string {
		t.Helper()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(b)
	}

	resp := do(http.MethodPut, "127.0.0.1:9000", "/certctl-backups/certctl/a.dump", "dump", map[string]string{
		"X-Amz-Server-Side-Encryption": "aws:kms", "X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id": "arn:aws:kms:us-east-1:1:key/k",
	})
	require.Equal(t, http.StatusOK, resp.StatusCode, read(resp))

	resp = do(http.MethodGet, "certctl-backups.fakes3.shop.svc:9000", "/?list-type=2&prefix=certctl/", "", nil)
	assert.Contains(t, read(resp), "<Key>certctl/a.dump</Key>", "virtual-host style listing")
	resp = do(http.MethodGet, "certctl-backups.fakes3", "/certctl/a.dump", "", nil)
	assert.Equal(t, "dump", read(resp), "virtual-host style download")
	resp = do(http.MethodGet, "unknown.fakes3", "/certctl-backups/certctl/a.dump", "", nil)
	assert.Equal(t, "dump", read(resp), "a host whose first label is no bucket is path style")

	resp = do(http.MethodHead, "fakes3:9000", "/certctl-backups/certctl/a.dump", "", nil)
	assert.Equal(t, "aws:kms", resp.Header.Get("X-Amz-Server-Side-Encryption"))
	assert.Equal(t, "arn:aws:kms:us-east-1:1:key/k", resp.Header.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"))
}
