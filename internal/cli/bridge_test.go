package cli

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestBridge: deskhub agent bridge carries standard input to a unix socket and the answer back, and
// ends when standard input ends.
func TestBridge(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "echo.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					_, _ = c.Write([]byte(strings.ToUpper(sc.Text()) + "\n"))
				}
			}()
		}
	}()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	var errb bytes.Buffer
	go func() {
		done <- Main(&Env{Args: []string{"agent", "bridge", sock}, Stdin: inR, Stdout: outW, Stderr: &errb,
			Getenv: func(string) string { return "" }})
		outW.Close()
	}()
	out := bufio.NewReader(outR)
	for _, line := range []string{"hello", "bridge"} {
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			t.Fatal(err)
		}
		got, err := out.ReadString('\n')
		if err != nil || got != strings.ToUpper(line)+"\n" {
			t.Fatalf("bridge answered %q, %v", got, err)
		}
	}
	inW.Close() // the broker's end closes: the bridge ends
	if code := <-done; code != 0 || errb.Len() > 0 {
		t.Fatalf("bridge: exit %d, stderr %q", code, errb.String())
	}
	if r := run(t, nil, "", "agent", "bridge", filepath.Join(t.TempDir(), "none.sock")); r.code != 1 || !strings.Contains(r.stderr, "bridge:") {
		t.Fatalf("missing socket: %+v", r)
	}
	if r := run(t, nil, "", "agent", "bridge"); r.code != 2 {
		t.Fatalf("no socket: %+v", r)
	}
}
