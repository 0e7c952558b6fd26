// Command ingest runs the ingest service on its own, against the NATS
// cluster named in the configuration (the distributed mode). The all-in-one
// ams runs the same code.
package main

import (
	"context"
	"io"
	"os"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/service"
	"github.com/amsproject/ams/services/ingest/app"
)

func main() { os.Exit(runArgs(context.Background(), os.Args[1:], os.Stdout, os.Stderr)) }

func runArgs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return service.Main(ctx, service.MainOptions{
		Name:     app.Name,
		Validate: app.ValidateConfig,
		Build: func(cfg *config.File, deps service.Deps) (service.Component, error) {
			in, err := app.New(cfg, deps)
			if err != nil {
				return service.Component{}, err
			}
			return service.Component{Name: app.Name, Runnable: in, Routes: in.Register}, nil
		},
	}, args, stdout, stderr)
}
