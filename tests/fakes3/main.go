package main

import (
	"log"
	"net/http"
	"os"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	b := s3mem.New()
	_ = b.CreateBucket("bucket")
	s := gofakes3.New(b, gofakes3.WithGlobalLog())
	h := s.Server()
	log.Fatal(http.ListenAndServe(os.Args[1], http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		log.Printf("%s host=%s %s sse=%q", r.Method, r.Host, r.URL, r.Header.Get("X-Amz-Server-Side-Encryption"))
		h.ServeHTTP(w, r)
	})))
}
