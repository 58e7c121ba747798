// Command sdkgen writes the language SDKs of a Pulumi package from its package schema, with
// Pulumi's own code generators (the Go module github.com/pulumi/pulumi/pkg/v3, pinned in go.mod
// at the version of the CLI that tools/build-engine.sh builds).
//
// It does what `pulumi package gen-sdk` / `pulumi package add` do through a language host's
// GeneratePackage, without needing Pulumi's Node, Go or Python language hosts (no registry we
// reach serves them): bind the schema with codegen/schema, then call codegen/nodejs,
// codegen/go and codegen/python's GeneratePackage.
//
//	sdkgen -schema schema.json -out DIR [-language nodejs,go,python] [-local=true]
//
// writes DIR/<language>/... for each language, replacing what was there. -local (the default)
// generates a local SDK the way `pulumi package add` does: the package's version is taken from
// the schema, the Node.js SDK compiles itself on `npm install` (main bin/index.js) and the Go SDK
// gets its own go.mod.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/blang/semver"
	gogen "github.com/pulumi/pulumi/pkg/v3/codegen/go"
	"github.com/pulumi/pulumi/pkg/v3/codegen/nodejs"
	"github.com/pulumi/pulumi/pkg/v3/codegen/python"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
)

// tool is the generator's name written into each generated file's header.
const tool = "amibackup-sdkgen"

var languages = []string{"nodejs", "go", "python"}

// noReferences is the schema loader: the package must be self-contained. A schema that
// refers to another package (say aws:ec2/...) would need that package's schema, which only a
// provider plugin can give; say so rather than guess.
type noReferences struct{}

func (noReferences) err(name string) error {
	return fmt.Errorf("the schema refers to the package %q: sdkgen generates only self-contained "+
		"packages (no references to other packages' types)", name)
}

func (n noReferences) LoadPackage(pkg string, _ *semver.Version) (*schema.Package, error) {
	return nil, n.err(pkg)
}

func (n noReferences) LoadPackageV2(_ context.Context, d *schema.PackageDescriptor) (*schema.Package, error) {
	return nil, n.err(d.Name)
}

func (n noReferences) LoadPackageReference(pkg string, _ *semver.Version) (schema.PackageReference, error) {
	return nil, n.err(pkg)
}

func (n noReferences) LoadPackageReferenceV2(
	_ context.Context, d *schema.PackageDescriptor,
) (schema.PackageReference, error) {
	return nil, n.err(d.Name)
}

// bind reads and validates a schema the way the CLI does before it generates an SDK.
func bind(path string, local bool) (*schema.Package, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var spec schema.PackageSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, fmt.Errorf("%s is not a package schema: %w", path, err)
	}
	pkg, diags, err := schema.BindSpec(spec, noReferences{}, schema.ValidationOptions{
		AllowDanglingReferences: true,
	})
	if err != nil {
		return nil, fmt.Errorf("binding %s: %w", path, err)
	}
	if diags.HasErrors() {
		return nil, fmt.Errorf("%s is not a valid package schema: %w", path, errors.Join(diags.Errs()...))
	}
	if local {
		if pkg.Version == nil {
			return nil, fmt.Errorf("%s has no \"version\": a local SDK takes its version from the schema", path)
		}
		pkg.SupportPack = true // as `pulumi package add` sets it
	}
	return pkg, nil
}

func generate(language string, pkg *schema.Package, local bool) (map[string][]byte, error) {
	switch language {
	case "nodejs":
		return nodejs.GeneratePackage(tool, pkg, nil, nil, local, noReferences{})
	case "go":
		return gogen.GeneratePackage(tool, pkg, nil)
	case "python":
		return python.GeneratePackage(tool, pkg, nil, noReferences{})
	}
	return nil, fmt.Errorf("unknown language %q: choose from %s", language, strings.Join(languages, ", "))
}

// write replaces dir with exactly the generated files.
func write(dir string, files map[string][]byte) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			return err
		}
	}
	return nil
}

func run(args []string) error {
	flags := flag.NewFlagSet("sdkgen", flag.ContinueOnError)
	schemaPath := flags.String("schema", "", "the package schema (JSON), as `pulumi package get-schema` prints it")
	out := flags.String("out", "", "the folder to write <language>/ SDKs into")
	langs := flags.String("language", "nodejs,go", "comma-separated languages: "+strings.Join(languages, ", "))
	local := flags.Bool("local", true, "generate local SDKs as `pulumi package add` does")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *schemaPath == "" || *out == "" || flags.NArg() != 0 {
		flags.Usage()
		return errors.New("-schema and -out are required")
	}
	for _, language := range strings.Split(*langs, ",") {
		// Each generator records its language's info in the package: bind afresh for each.
		pkg, err := bind(*schemaPath, *local)
		if err != nil {
			return err
		}
		files, err := generate(language, pkg, *local)
		if err != nil {
			return fmt.Errorf("generating the %s SDK: %w", language, err)
		}
		if err := write(filepath.Join(*out, language), files); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "sdkgen: %s SDK of %s %s: %d files in %s\n", language, pkg.Name,
			pkg.Version, len(files), filepath.Join(*out, language))
	}
	return nil
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "sdkgen: %v\n", err)
		os.Exit(1)
	}
}
