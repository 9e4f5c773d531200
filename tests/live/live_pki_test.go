package live

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testPKI is a throwaway CA standing in for whoever issues the cluster's certificates: the user
// (an existing TLS Secret), cert-manager (a Certificate's Secret) or CloudNativePG (a Cluster's CA).
type testPKI struct {
	t       testing.TB
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM string
	serial  int64
}

// newTestPKI is a new CA with a P-256 key, valid for a day.
func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "live-suite test CA"},
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	return &testPKI{t: t, cert: cert, key: key, certPEM: pemBlock("CERTIFICATE", der), serial: 1}
}

// pool trusts the test CA.
func (p *testPKI) pool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(p.cert)
	return pool
}

// tlsSecret is a kubernetes.io/tls Secret for dnsNames, with the CA as ca.crt (as cert-manager
// writes it for a CA issuer).
func (p *testPKI) tlsSecret(name string, dnsNames ...string) map[string]any {
	p.t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(p.t, err)
	p.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: dnsNames[0]}, DNSNames: dnsNames,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	require.NoError(p.t, err)
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	require.NoError(p.t, err)
	return secretManifest(name, "kubernetes.io/tls", map[string]any{
		"tls.crt": pemBlock("CERTIFICATE", der), "tls.key": pemBlock("PRIVATE KEY", keyDER), "ca.crt": p.certPEM,
	})
}

// caSecret holds only the CA certificate, under ca.crt.
func (p *testPKI) caSecret(name string) map[string]any {
	return secretManifest(name, "Opaque", map[string]any{"ca.crt": p.certPEM})
}

// operatorCASecret is the CA as CloudNativePG keeps a Cluster's in <cluster>-ca: the
// certificate under ca.crt and its key under ca.key.
func (p *testPKI) operatorCASecret(name string) map[string]any {
	p.t.Helper()
	keyDER, err := x509.MarshalPKCS8PrivateKey(p.key)
	require.NoError(p.t, err)
	return secretManifest(name, "Opaque", map[string]any{"ca.crt": p.certPEM, "ca.key": pemBlock("PRIVATE KEY", keyDER)})
}

// secretManifest is a Secret of the live namespace with the given type and stringData.
func secretManifest(name, typ string, data map[string]any) map[string]any {
	return map[string]any{
		"apiVersion": "v1", "kind": "Secret", "type": typ,
		"metadata":   map[string]any{"name": name, "namespace": "certctl"},
		"stringData": data,
	}
}

// pemBlock is der PEM-encoded as a block of type typ.
func pemBlock(typ string, der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}))
}
