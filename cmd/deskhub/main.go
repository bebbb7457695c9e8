// Command deskhub is a self-hosted virtual desktop platform. See README.md.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/deskhub/deskhub/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(&cli.Env{Args: os.Args[1:], Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Ctx: ctx})
	stop()
	os.Exit(code)
}
