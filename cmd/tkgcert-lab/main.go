// Command tkgcert-lab runs the lab: a local, simulated vSphere Supervisor with
// TKG clusters for tkgcert's demos and tests. Run `tkgcert-lab --help`. It is
// a binary of its own so that tkgcert never links the lab.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tkgcert/tkgcert/internal/lab/labcmd"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := labcmd.Execute(ctx, genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}
