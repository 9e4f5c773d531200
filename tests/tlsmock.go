package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

// What the pulumi-tls provider computes, for the live suite: a P-256 key, and a self-signed
// certificate built from the SelfSignedCert inputs the program sends.

func newECKeyPEM() string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func selfSignedCertPEM(in resource.PropertyMap) (string, error) {
	inputs := plainMap(in)
	block, _ := pem.Decode([]byte(inputs["privateKeyPem"].(string)))
	if block == nil {
		return "", fmt.Errorf("selfSignedCert: privateKeyPem is not PEM")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return "", err
	}
	signer := key.(*ecdsa.PrivateKey)
	subject, _ := inputs["subject"].(map[string]any)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(time.Duration(inputs["validityPeriodHours"].(float64)) * time.Hour),
	}
	if cn, ok := subject["commonName"].(string); ok {
		tmpl.Subject = pkix.Name{CommonName: cn}
	}
	if o, ok := subject["organization"].(string); ok {
		tmpl.Subject.Organization = []string{o}
	}
	if isCA, _ := inputs["isCaCertificate"].(bool); isCA {
		tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	}
	uses := map[string]x509.KeyUsage{"cert_signing": x509.KeyUsageCertSign, "crl_signing": x509.KeyUsageCRLSign, "digital_signature": x509.KeyUsageDigitalSignature}
	for _, u := range inputs["allowedUses"].([]any) {
		use, ok := uses[u.(string)]
		if !ok {
			return "", fmt.Errorf("selfSignedCert: allowed use %q not emulated", u)
		}
		tmpl.KeyUsage |= use
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &signer.PublicKey, signer)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), nil
}
