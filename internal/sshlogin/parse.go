package sshlogin

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
)

// Bounds on client-supplied key and signature bytes. An RSA-16384 public key
// is about 2 KiB in wire format and its signature 2 KiB; certificates are
// larger but stay well under these limits.
const (
	MaxPublicKeyLen = 16 << 10
	MaxSignatureLen = 4 << 10
)

// sigFormats bounds the signature blob length per format (min, max).
var sigFormats = map[string][2]int{
	ssh.KeyAlgoED25519:    {64, 64},
	ssh.KeyAlgoSKED25519:  {64, 64},
	ssh.KeyAlgoRSA:        {128, 2048}, // 1024..16384-bit moduli
	ssh.KeyAlgoRSASHA256:  {128, 2048},
	ssh.KeyAlgoRSASHA512:  {128, 2048},
	ssh.KeyAlgoECDSA256:   {10, 142}, // string(mpint r) string(mpint s)
	ssh.KeyAlgoECDSA384:   {10, 142},
	ssh.KeyAlgoECDSA521:   {10, 142},
	ssh.KeyAlgoSKECDSA256: {10, 142},
}

// ParseWireSignature parses a signature in SSH wire format, as produced by
// ssh.Marshal(*ssh.Signature) (RFC 4253 §6.6: string format, string blob;
// for the security-key formats sk-* followed by a flags byte and a uint32
// counter). It is strict: known formats only, blob length within the bounds
// of the format, no trailing bytes.
func ParseWireSignature(b []byte) (*ssh.Signature, error) {
	if len(b) == 0 || len(b) > MaxSignatureLen {
		return nil, fmt.Errorf("%w: signature of %d bytes (want 1..%d)", ErrInvalidInput, len(b), MaxSignatureLen)
	}
	format, rest, ok := wireString(b, 64)
	if !ok {
		return nil, fmt.Errorf("%w: malformed signature format", ErrInvalidInput)
	}
	bounds, known := sigFormats[string(format)]
	if !known {
		return nil, fmt.Errorf("%w: unsupported signature format %q", ErrInvalidInput, printable(format))
	}
	blob, rest, ok := wireString(rest, MaxSignatureLen)
	if !ok {
		return nil, fmt.Errorf("%w: malformed signature blob", ErrInvalidInput)
	}
	if len(blob) < bounds[0] || len(blob) > bounds[1] {
		return nil, fmt.Errorf("%w: %s signature blob of %d bytes", ErrInvalidInput, format, len(blob))
	}
	sig := &ssh.Signature{Format: string(format), Blob: bytes.Clone(blob)}
	if bytes.HasPrefix(format, []byte("sk-")) {
		if len(rest) != 5 {
			return nil, fmt.Errorf("%w: security-key signature needs flags and counter", ErrInvalidInput)
		}
		sig.Rest = bytes.Clone(rest)
		rest = nil
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after the signature", ErrInvalidInput, len(rest))
	}
	return sig, nil
}

// ParsePublicKey parses a user's public key given either in SSH wire format
// (RFC 4253 §6.6, what the FastX API describes: string "ssh-rsa", mpint e,
// mpint n; any OpenSSH key type is accepted) or as one authorized_keys line
// ("ssh-ed25519 AAAA... comment", options not allowed). Input longer than
// MaxPublicKeyLen is refused.
func ParsePublicKey(b []byte) (ssh.PublicKey, error) {
	if len(b) == 0 || len(b) > MaxPublicKeyLen {
		return nil, fmt.Errorf("%w: public key of %d bytes (want 1..%d)", ErrInvalidInput, len(b), MaxPublicKeyLen)
	}
	if looksLikeText(b) {
		line := bytes.TrimSpace(b)
		if bytes.ContainsAny(line, "\r\n") {
			return nil, fmt.Errorf("%w: more than one line", ErrInvalidInput)
		}
		pub, _, options, rest, err := ssh.ParseAuthorizedKey(line)
		if err != nil {
			return nil, fmt.Errorf("%w: authorized_keys line: %v", ErrInvalidInput, err)
		}
		if len(options) != 0 || len(bytes.TrimSpace(rest)) != 0 {
			return nil, fmt.Errorf("%w: authorized_keys options are not accepted", ErrInvalidInput)
		}
		return pub, nil
	}
	pub, err := ssh.ParsePublicKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: public key: %v", ErrInvalidInput, err)
	}
	return pub, nil
}

// looksLikeText reports whether b is an authorized_keys line rather than
// wire bytes (which start with a 4-byte big-endian length, hence a NUL).
func looksLikeText(b []byte) bool {
	if !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c == 0 {
			return false
		}
	}
	return true
}

// wireString reads an SSH string of at most max bytes.
func wireString(b []byte, max int) (s, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if n > uint32(max) || int(n) > len(b)-4 {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}

func printable(b []byte) string {
	if len(b) > 64 {
		b = b[:64]
	}
	return fmt.Sprintf("%q", b)
}
