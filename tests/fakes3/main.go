// Command fakes3 is the S3 endpoint of the live tests: gofakes3 with its in-memory backend, so
// a backup Job's real client (the AWS CLI) uploads, lists and downloads through the S3 API
// without an AWS account. Everything is lost when it exits.
//
//	fakes3 [-listen ADDR] [-bucket NAME[,NAME...]]...
//
// Buckets are reached in path style (http://HOST/BUCKET/KEY, what the AWS CLI uses with
// --endpoint-url) and in virtual-host style (http://BUCKET.HOST/KEY) alike. Server-side
// encryption is not performed, but the x-amz-server-side-encryption* headers of an upload are
// kept with the object and returned by HEAD and GET, as S3 returns them, so a test can check
// what the uploader asked for. Authentication is not checked.
//
// It prints "listening on ADDR" once it accepts connections, and logs each request to stderr.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	listen := flag.String("listen", ":9000", "address to serve S3 on")
	var buckets []string
	flag.Func("bucket", "bucket to create at start (repeatable, comma-separated)", func(v string) error {
		for name := range strings.SplitSeq(v, ",") {
			if err := gofakes3.ValidateBucketName(name); err != nil {
				return fmt.Errorf("bucket %q: %w", name, err)
			}
			buckets = append(buckets, name)
		}
		return nil
	})
	flag.Parse()
	log.SetFlags(0)

	handler, err := newServer(buckets)
	if err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("listening on", l.Addr())
	log.Fatal(http.Serve(l, accessLog(handler)))
}

// newServer is the S3 API over a new in-memory store holding the (empty) buckets.
func newServer(buckets []string) (http.Handler, error) {
	backend := s3mem.New()
	for _, name := range buckets {
		if err := backend.CreateBucket(name); err != nil {
			return nil, fmt.Errorf("creating bucket %s: %w", name, err)
		}
	}
	return virtualHost(backend, gofakes3.New(backend).Server()), nil
}

// virtualHost routes a virtual-host-style request (Host "BUCKET.REST") as its path-style
// equivalent, /BUCKET/KEY, when BUCKET names an existing bucket; gofakes3's own option rewrites
// every request or needs the endpoint's host name in advance.
func virtualHost(backend gofakes3.Backend, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if bucket, _, ok := strings.Cut(host, "."); ok && net.ParseIP(host) == nil {
			if exists, err := backend.BucketExists(bucket); err == nil && exists {
				r.URL.Path = "/" + bucket + r.URL.Path
				if r.URL.RawPath != "" {
					r.URL.RawPath = "/" + bucket + r.URL.RawPath
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// accessLog logs each request and its response status, for a failing Job's pod log.
func accessLog(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		log.Printf("%s %s %s -> %d", r.Method, r.Host, r.URL.RequestURI(), rec.status)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(status int) {
	s.status = status
	s.ResponseWriter.WriteHeader(status)
}
