package lxdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// lxdScript runs scripts/lxd.sh with the given command and returns its output (stdout and stderr).
func lxdScript(command string) (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "scripts", "lxd.sh"), command)
	cmd.Dir = root
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	// The daemon the script starts detaches from our pipes, but never wait forever on them.
	cmd.WaitDelay = 10 * time.Second
	err = cmd.Run()
	return out.String(), err
}

// repoRoot finds the repository root: the nearest directory above the working directory (a test
// binary runs in its package's directory) holding go.mod and scripts/lxd.sh.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "scripts", "lxd.sh")); err == nil {
				return dir, nil
			}
			return "", fmt.Errorf("%s has go.mod but no scripts/lxd.sh", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("cannot find the repository root (go.mod) above the working directory")
		}
		dir = parent
	}
}
