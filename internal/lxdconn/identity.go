package lxdconn

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/deskhub/deskhub/internal/store"
)

// Names of the settings that hold deskhub's LXD client identity. The private key is stored only
// encrypted (AES-256-GCM under a key derived from the configured secret).
const (
	settingClientCert = "lxd.client_cert"
	settingClientKey  = "lxd.client_key"
)

// Identity is deskhub's TLS client certificate, the one LXD servers trust after server.add. One per
// install (shared by PostgreSQL replicas through the store).
type Identity struct {
	CertPEM     string
	KeyPEM      string
	Fingerprint string // SHA-256 of the DER certificate, hex
}

// LoadIdentity reads the identity from the store, creating it on first use. Replicas racing to create
// it agree on the first one stored.
func LoadIdentity(ctx context.Context, st store.Store, secret []byte, commonName string) (Identity, error) {
	for range 2 {
		certPEM, err := st.GetSetting(ctx, settingClientCert)
		if err == nil {
			encKey, err := st.GetSetting(ctx, settingClientKey)
			if err != nil {
				return Identity{}, fmt.Errorf("LXD client key missing from the store: %w", err)
			}
			keyPEM, err := openSecret(secret, encKey)
			if err != nil {
				return Identity{}, fmt.Errorf("decrypting the LXD client key (is the secret key the one it was created with?): %w", err)
			}
			return newIdentity(certPEM, string(keyPEM))
		}
		if !errors.Is(err, store.ErrNotFound) {
			return Identity{}, err
		}
		certPEM, keyPEM, err := generateClientCert(commonName)
		if err != nil {
			return Identity{}, err
		}
		encKey, err := sealSecret(secret, []byte(keyPEM))
		if err != nil {
			return Identity{}, err
		}
		err = st.InTx(ctx, func(tx store.Store) error {
			if err := tx.CreateSetting(ctx, settingClientCert, certPEM); err != nil {
				return err
			}
			return tx.CreateSetting(ctx, settingClientKey, encKey)
		})
		if err == nil {
			return newIdentity(certPEM, keyPEM)
		}
		if !errors.Is(err, store.ErrConflict) {
			return Identity{}, err
		}
		// Another replica stored one first: read that one.
	}
	return Identity{}, errors.New("could not create or read the LXD client identity")
}

func newIdentity(certPEM, keyPEM string) (Identity, error) {
	fp, err := CertFingerprint(certPEM)
	if err != nil {
		return Identity{}, err
	}
	return Identity{CertPEM: certPEM, KeyPEM: keyPEM, Fingerprint: fp}, nil
}

// CertFingerprint is the SHA-256 fingerprint (hex) of the first certificate in a PEM text.
func CertFingerprint(certPEM string) (string, error) {
	block, _ := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" {
		return "", errors.New("no PEM certificate")
	}
	sum := sha256.Sum256(block.Bytes)
	return hex.EncodeToString(sum[:]), nil
}

// generateClientCert makes a self-signed ECDSA P-384 client certificate, as LXD's own clients do.
func generateClientCert(commonName string) (certPEM, keyPEM string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return "", "", err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"deskhub"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})), nil
}

// sealPrefix marks the format of sealed values, so a later format can be told apart.
const sealPrefix = "v1:"

// sealSecret encrypts plain with AES-256-GCM under SHA-256(secret): "v1:" + base64(nonce‖ciphertext).
func sealSecret(secret, plain []byte) (string, error) {
	aead, err := newAEAD(secret)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	return sealPrefix + base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, plain, []byte(settingClientKey))), nil
}

// openSecret reverses sealSecret.
func openSecret(secret []byte, sealed string) ([]byte, error) {
	rest, ok := strings.CutPrefix(sealed, sealPrefix)
	if !ok {
		return nil, errors.New("unknown format")
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return nil, err
	}
	aead, err := newAEAD(secret)
	if err != nil {
		return nil, err
	}
	if len(raw) < aead.NonceSize() {
		return nil, errors.New("truncated")
	}
	return aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(settingClientKey))
}

func newAEAD(secret []byte) (cipher.AEAD, error) {
	if len(secret) < 16 {
		return nil, errors.New("the secret key must be at least 16 bytes")
	}
	k := sha256.Sum256(secret)
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
