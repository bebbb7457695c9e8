// Package session is deskhub's session broker: it starts desktops through a provider, keeps them in the
// store, lists, filters and sorts them, hands out one-time secrets for the display relay, and manages
// bookmarks (bookmarks.go), sharing (shares.go), scheduled starts (schedules.go) and the system views
// (system.go). The HTTP layer (internal/server) only converts: session returns internal/fault errors and
// imports neither net/http nor internal/httpapi (imports_test.go).
package session

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxCommandLen bounds a session command.
const MaxCommandLen = 4096

// SplitCommand splits a command line into argv the way a shell splits words, without any expansion:
// whitespace separates words, single quotes keep text literally, double quotes keep text with \" and \\
// escapes, a backslash outside quotes escapes the next character. Nothing is ever run through a shell.
func SplitCommand(s string) ([]string, error) {
	if len(s) > MaxCommandLen {
		return nil, fmt.Errorf("is longer than %d bytes", MaxCommandLen)
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("is not valid UTF-8")
	}
	var (
		args    []string
		cur     strings.Builder
		inWord  bool
		quote   rune
		escaped bool
	)
	for _, r := range s {
		switch {
		case r == 0:
			return nil, errors.New("contains a NUL byte")
		case escaped:
			cur.WriteRune(r)
			escaped = false
		case quote == '\'':
			if r == '\'' {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case quote == '"':
			switch r {
			case '"':
				quote = 0
			case '\\':
				escaped = true
			default:
				cur.WriteRune(r)
			}
		case r == '\\':
			escaped, inWord = true, true
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case unicode.IsSpace(r):
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	switch {
	case quote != 0:
		return nil, fmt.Errorf("has an unclosed %c quote", quote)
	case escaped:
		return nil, errors.New("ends with a lone backslash")
	}
	if inWord {
		args = append(args, cur.String())
	}
	if len(args) == 0 {
		return nil, errors.New("is empty")
	}
	return args, nil
}
