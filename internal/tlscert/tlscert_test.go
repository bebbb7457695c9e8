package tlscert

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

func TestGenerateOnceThenReuse(t *testing.T) {
	dir := t.TempDir()
	c1, err := Load(dir, "", "", []string{"deskhub.example", "10.1.2.3", "0.0.0.0"})
	if err != nil {
		t.Fatal(err)
	}
	if !c1.Generated {
		t.Fatal("first load did not generate")
	}
	st, err := os.Stat(filepath.Join(dir, "tls", "key.pem"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st.Mode(), err)
	}
	if st, _ := os.Stat(filepath.Join(dir, "tls")); st.Mode().Perm() != 0o700 {
		t.Fatalf("tls dir mode %v", st.Mode())
	}
	c2, err := Load(dir, "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Generated || c2.Fingerprint != c1.Fingerprint {
		t.Fatalf("second load: generated=%v fingerprint %s != %s", c2.Generated, c2.Fingerprint, c1.Fingerprint)
	}
	blk, _ := pem.Decode(c1.PEM)
	leaf, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.Raw)
	if Fingerprint(sum[:]) != c1.Fingerprint || len(c1.Fingerprint) != 95 {
		t.Fatalf("fingerprint %q", c1.Fingerprint)
	}
	for _, h := range []string{"localhost", "127.0.0.1", "::1", "deskhub.example", "10.1.2.3"} {
		if err := leaf.VerifyHostname(h); err != nil {
			t.Errorf("certificate does not cover %s: %v", h, err)
		}
	}
	for _, ip := range leaf.IPAddresses {
		if ip.IsUnspecified() {
			t.Errorf("certificate names the unspecified address %s", ip)
		}
	}
}

// A client that pins the certificate (as an LXD server does with the PEM) completes a handshake.
func TestPinnedHandshake(t *testing.T) {
	c, err := Load(t.TempDir(), "", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{c.TLS}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) })}
	go srv.Serve(ln)
	defer srv.Close()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.PEM)
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	resp, err := cl.Get("https://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	// An unpinned client refuses it.
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if _, err := http.Get("https://localhost:" + port + "/"); err == nil {
		t.Fatal("a client without the pin accepted a self-signed certificate")
	}
}

func TestBadPairs(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(dir, "cert.pem", "", nil); err == nil {
		t.Fatal("a certificate without a key was accepted")
	}
	if _, err := Load(dir, filepath.Join(dir, "nope.pem"), filepath.Join(dir, "nope.key"), nil); err == nil {
		t.Fatal("missing configured files were accepted")
	}
	// Half a generated pair is refused rather than silently replaced.
	if _, err := Load(dir, "", "", nil); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, "tls", "cert.pem"))
	if _, err := Load(dir, "", "", nil); err == nil {
		t.Fatal("a key without its certificate was accepted")
	}
}
