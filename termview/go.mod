module github.com/bgjob/bgjob/termview

go 1.26.0

require (
	github.com/bgjob/bgjob v0.0.0
	github.com/google/uuid v1.6.0
	github.com/stretchr/testify v1.12.1
	go.uber.org/goleak v1.3.0
	golang.org/x/sys v0.49.0
	golang.org/x/term v0.44.0
)

require go.yaml.in/yaml/v3 v3.0.5 // indirect

replace github.com/bgjob/bgjob => ../
