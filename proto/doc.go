// Package proto holds AMS's protobuf definitions; the generated Go code is in
// the ams/v1 package. Regenerate with `make generate`.
package proto
