module github.com/amsproject/ams/services/ingest

go 1.26.0

require (
	github.com/amsproject/ams/pkg v0.0.0
	github.com/amsproject/ams/proto v0.0.0
)

replace (
	github.com/amsproject/ams/pkg => ../../pkg
	github.com/amsproject/ams/proto => ../../proto
)
