// Package tlscert gives deskhub its HTTPS certificate: the one an operator configured, or a
// self-signed one generated on first start and kept in the data directory. LXD servers pin it by its
// PEM when they pull images from deskhub's simplestreams server, and people check it by its SHA-256
// fingerprint, which deskhub prints at start.
package tlscert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Cert is a loaded certificate with what deskhub tells others about it.
type Cert struct {
	TLS tls.Certificate
	// PEM is the leaf certificate, PEM-encoded (what an LXD server pins).
	PEM []byte
	// Fingerprint is the SHA-256 of the leaf's DER, as colon-separated hex (what people compare).
	Fingerprint string
	// CertFile and KeyFile are where it was read from.
	CertFile, KeyFile string
	// Generated is true when this start created the files.
	Generated bool
}

// Load reads certFile and keyFile when both are set (both must then exist). Otherwise it uses
// <dataDir>/tls/cert.pem and key.pem, generating a self-signed certificate for hosts there on first
// use (the key 0600, the directory 0700).
func Load(dataDir, certFile, keyFile string, hosts []string) (*Cert, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("tls: give both a certificate and a key file, or neither (a self-signed pair is generated)")
	}
	generated := false
	if certFile == "" {
		dir := filepath.Join(dataDir, "tls")
		certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		_, cerr := os.Stat(certFile)
		_, kerr := os.Stat(keyFile)
		switch {
		case cerr == nil && kerr == nil:
		case errors.Is(cerr, os.ErrNotExist) && errors.Is(kerr, os.ErrNotExist):
			if err := generate(dir, certFile, keyFile, hosts); err != nil {
				return nil, err
			}
			generated = true
		default:
			return nil, fmt.Errorf("tls: %s and %s must both exist or both be absent (remove the other to generate a new pair)", certFile, keyFile)
		}
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	leaf := pair.Certificate[0]
	sum := sha256.Sum256(leaf)
	return &Cert{TLS: pair, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leaf}),
		Fingerprint: Fingerprint(sum[:]), CertFile: certFile, KeyFile: keyFile, Generated: generated}, nil
}

// Fingerprint formats a digest as upper-case hex pairs joined by colons.
func Fingerprint(sum []byte) string {
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// generate writes a self-signed ECDSA P-256 certificate valid for ten years, for "localhost", the
// loopback addresses and hosts (names or IP addresses).
func generate(dir, certFile, keyFile string, hosts []string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"deskhub"}, CommonName: "deskhub"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	seen := map[string]bool{"localhost": true, "127.0.0.1": true, "::1": true}
	for _, h := range hosts {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	// The key first, so that a crash between the two never leaves a certificate without its key.
	if err := writeAtomic(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return err
	}
	if err := writeAtomic(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		_ = os.Remove(keyFile)
		return err
	}
	return nil
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(mode); err == nil {
		if _, err = f.Write(data); err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(f.Name(), path)
		}
		if err != nil {
			return fmt.Errorf("tls: writing %s: %w", path, err)
		}
		return nil
	}
	f.Close()
	return fmt.Errorf("tls: %w", err)
}
