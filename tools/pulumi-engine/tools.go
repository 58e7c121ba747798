//go:build tools

// Package tools pins the Pulumi CLI engine (and its Go dependencies) for
// tools/build-engine.sh. It is never compiled: the build tag keeps the import
// of a main package out of normal builds, while `go mod tidy` (which considers
// all build tags) still records the requirements and their go.sum lines.
package tools

import (
	_ "github.com/pulumi/pulumi/pkg/v3/cmd/pulumi"
	_ "github.com/pulumi/pulumi/sdk/v3/go/common/version"
)
