module github.com/bgjob/bgjob/cmd/bgjob-demo

go 1.26.0

require (
	github.com/bgjob/bgjob v0.0.0
	github.com/bgjob/bgjob/termview v0.0.0
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
)

require (
	github.com/google/uuid v1.6.0 // indirect
	go.yaml.in/yaml/v3 v3.0.5 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/term v0.44.0 // indirect
)

replace (
	github.com/bgjob/bgjob => ../..
	github.com/bgjob/bgjob/termview => ../../termview
)
