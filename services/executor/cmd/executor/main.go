// Command executor runs the executor service on its own, against the NATS cluster
// named in the configuration (the distributed mode). The all-in-one ams runs
// the same code.
package main

import (
	"context"
	"os"

	"github.com/amsproject/ams/pkg/service"
	"github.com/amsproject/ams/services/executor/app"
)

func main() {
	os.Exit(service.Main(context.Background(), service.MainOptions{
		Name:  app.Name,
		Build: service.Build(app.Name, app.New),
	}, os.Args[1:], os.Stdout, os.Stderr))
}
