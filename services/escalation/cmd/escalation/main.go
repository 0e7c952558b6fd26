// Command escalation runs the escalation service on its own, against the NATS cluster
// named in the configuration (the distributed mode). The all-in-one ams runs
// the same code.
package main

import (
	"context"
	"os"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/service"
	"github.com/amsproject/ams/services/escalation/app"
)

func main() {
	os.Exit(service.Main(context.Background(), service.MainOptions{
		Name: app.Name,
		Build: func(cfg *config.File, deps service.Deps) (service.Component, error) {
			s, err := app.New(cfg, deps)
			if err != nil {
				return service.Component{}, err
			}
			return service.Component{Name: app.Name, Runnable: s}, nil
		},
	}, os.Args[1:], os.Stdout, os.Stderr))
}
