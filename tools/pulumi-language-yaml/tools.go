//go:build tools

// Package tools pins the Pulumi YAML language host (and its Go dependencies) for
// tools/build-yaml-host.sh. It is never compiled: the build tag keeps the import
// of a main package out of normal builds, while `go mod tidy` (which considers
// all build tags) still records the requirements and their go.sum lines.
package tools

import (
	_ "github.com/pulumi/pulumi-yaml/cmd/pulumi-language-yaml"
)
