// Command server stands in for an image's program in the kubelet package's tests.
//
//	server serve ADDR [READY_FILE]      HTTP on ADDR: / answers "POD_NAME CLIENT_ADDR", /ready
//	                                    answers 200 once READY_FILE exists (always without one)
//	server serve-tls ADDR [READY_FILE]  the same over HTTPS, with a self-signed certificate
//	server get URL                      prints the body of a GET, through the pod's name resolution
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"os"
	"time"
)

func main() {
	switch {
	case len(os.Args) >= 3 && (os.Args[1] == "serve" || os.Args[1] == "serve-tls"):
		readyFile := ""
		if len(os.Args) > 3 {
			readyFile = os.Args[3]
		}
		serve(os.Args[2], readyFile, os.Args[1] == "serve-tls")
	case len(os.Args) == 3 && os.Args[1] == "get":
		get(os.Args[2])
	default:
		log.Fatalf("usage: server serve ADDR [READY_FILE] | server get URL")
	}
}

func serve(addr, readyFile string, withTLS bool) {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s\n", os.Getenv("POD_NAME"), r.RemoteAddr)
	})
	http.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		if readyFile != "" {
			if _, err := os.Stat(readyFile); err != nil {
				http.Error(w, "not ready", http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ok")
	})
	server := &http.Server{Addr: addr}
	if !withTLS {
		log.Fatal(server.ListenAndServe())
	}
	server.TLSConfig = &tls.Config{Certificates: []tls.Certificate{selfSigned()}}
	log.Fatal(server.ListenAndServeTLS("", ""))
}

func selfSigned() tls.Certificate {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func get(url string) {
	resp, err := http.Get(url)
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	if _, err := io.Copy(os.Stdout, resp.Body); err != nil {
		log.Fatal(err)
	}
}
