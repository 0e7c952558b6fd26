// Command ingest runs the ingest service on its own, against the NATS
// cluster named in the configuration (the distributed mode). The all-in-one
// ams runs the same code.
package main

import (
	"context"
	"io"
	"os"

	"github.com/amsproject/ams/pkg/service"
	"github.com/amsproject/ams/services/ingest/app"
)

func main() { os.Exit(runArgs(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

func runArgs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return service.Main(ctx, service.MainOptions{
		Name:     app.Name,
		Validate: app.ValidateConfig,
		Build:    app.Component,
	}, args, stdout, stderr)
}
