"""The SDKs generated from the package schema (tools/sdkgen on Pulumi's code generators).

They are generated, never committed: tools/gen-sdks.sh writes sdk/ from schema/schema.json.
Here: each SDK declares every property of the schema with its doc, the TypeScript SDK
compiles (its postinstall runs tsc) and the example program type-checks against it, the Go
SDK and example compile, and a program that misuses the SDK fails to compile (so the checks
can fail). The programs through the real CLI: tests/test_engine_typescript.py,
tests/test_engine_go.py and tests/test_engine_python_sdk.py.

Set AMIBACKUP_REQUIRE_ENGINE=1 (as tools/test.sh does) to fail rather than skip when Go or
Node.js is missing.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "schema" / "schema.json"
TOKEN = "amibackup:index:AmiAutoBackup"


def needs(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        if os.environ.get("AMIBACKUP_REQUIRE_ENGINE") == "1":
            raise AssertionError(f"{', '.join(missing)} not on PATH")
        pytest.skip(f"{', '.join(missing)} not on PATH")


def run(*argv: str, cwd: Path = ROOT, timeout: float = 1200) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          check=False)


@pytest.fixture(scope="module")
def sdkgen() -> Path:
    needs("go")
    done = run("bash", str(ROOT / "tools" / "build-sdkgen.sh"))
    assert done.returncode == 0, done.stderr
    return Path(done.stdout.strip())


@pytest.fixture(scope="module")
def generated(sdkgen: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sdk")
    done = run(str(sdkgen), "-schema", str(SCHEMA), "-out", str(out),
               "-language", "nodejs,go,python")
    assert done.returncode == 0, done.stderr
    return out


def resource() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA.read_text())
    return dict(schema["resources"][TOKEN])


def test_typescript_sdk_declares_every_input_and_output_with_its_doc(generated: Path) -> None:
    source = (generated / "nodejs" / "amiAutoBackup.ts").read_text()
    args = source[source.index("export interface AmiAutoBackupArgs"):]
    spec = resource()
    for name in spec["inputProperties"]:
        required = name in spec["requiredInputs"]
        assert re.search(rf"\n    {name}{'' if required else '[?]'}: pulumi\.Input<", args), name
    for name, prop in spec["properties"].items():
        assert re.search(rf"readonly {name}: pulumi\.Output<", source), name
        assert prop["description"].split("\n")[0][:60] in source, name


def test_go_sdk_declares_every_input_and_output(generated: Path) -> None:
    source = (generated / "go" / "amibackup" / "amiAutoBackup.go").read_text()
    args = source[source.index("type AmiAutoBackupArgs struct"):]
    args = args[:args.index("\n}") + 1]
    spec = resource()
    for name in spec["inputProperties"]:
        assert re.search(rf"\n\t{name[0].upper()}{name[1:]} [\w.]+Input\n", args), name
    for name in spec["properties"]:
        assert re.search(rf"\n\t{name[0].upper()}{name[1:]} [\w.]+Output ", source), name
    go_mod = (generated / "go" / "go.mod").read_text()
    assert go_mod.startswith("module github.com/amibackup/amibackup/sdk/go\n")


def test_sdks_carry_the_package_version(generated: Path) -> None:
    version = json.loads(SCHEMA.read_text())["version"]
    package = json.loads((generated / "nodejs" / "package.json").read_text())
    assert (package["name"], package["version"]) == ("@amibackup/pulumi", version)
    assert package["pulumi"] == {"resource": True, "name": "amibackup", "version": version}
    plugin = json.loads((generated / "go" / "amibackup" / "pulumi-plugin.json").read_text())
    assert (plugin["name"], plugin["version"]) == ("amibackup", version)


def test_sdkgen_refuses_an_invalid_schema_by_name(sdkgen: Path, tmp_path: Path) -> None:
    schema = json.loads(SCHEMA.read_text())
    schema["resources"][TOKEN]["inputProperties"]["groupName"] = {"type": "strng"}
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(schema))
    done = run(str(sdkgen), "-schema", str(bad), "-out", str(tmp_path / "out"))
    assert done.returncode != 0
    assert f"{bad} is not a valid package schema" in done.stderr
    assert "groupName" in done.stderr and "strng" in done.stderr
    assert not (tmp_path / "out").exists()  # nothing written


def test_sdkgen_refuses_references_to_other_packages(sdkgen: Path, tmp_path: Path) -> None:
    schema = json.loads(SCHEMA.read_text())
    schema["resources"][TOKEN]["inputProperties"]["groupName"] = {
        "$ref": "/aws/v7.0.0/schema.json#/resources/aws:autoscaling%2Fgroup:Group"}
    bad = tmp_path / "refs.json"
    bad.write_text(json.dumps(schema))
    done = run(str(sdkgen), "-schema", str(bad), "-out", str(tmp_path / "out"))
    assert done.returncode != 0
    assert 'refers to the package "aws"' in done.stderr, done.stderr


@pytest.fixture(scope="module")
def typescript_example() -> Path:
    """examples/typescript installed (SDK generated and compiled) and type-checked."""
    needs("go", "node", "npm")
    done = run("bash", str(ROOT / "tools" / "build-examples.sh"), "typescript")
    assert done.returncode == 0, f"tools/build-examples.sh typescript failed:\n{done.stderr}"
    return ROOT / "examples" / "typescript"


def test_typescript_sdk_compiles_and_the_example_type_checks(typescript_example: Path) -> None:
    sdk = typescript_example / "node_modules" / "@amibackup" / "pulumi"
    # Compiled by its own postinstall (tsc), as `npm install` of a local SDK does.
    assert (sdk / "bin" / "index.js").is_file() and (sdk / "bin" / "index.d.ts").is_file()
    assert (sdk / "bin" / "package.json").is_file()  # the SDK reads its version from it


def test_a_program_that_misuses_the_sdk_does_not_type_check(typescript_example: Path,
                                                            tmp_path: Path) -> None:
    program = (typescript_example / "index.ts").read_text()
    assert "groupName: config.require" in program
    (tmp_path / "index.ts").write_text(program.replace("groupName: config.require",
                                                       "groupNme: config.require"))
    (tmp_path / "node_modules").symlink_to(typescript_example / "node_modules")
    shutil.copy(typescript_example / "tsconfig.json", tmp_path / "tsconfig.json")
    done = run(str(typescript_example / "node_modules" / ".bin" / "tsc"), "--noEmit", "-p", ".",
               cwd=tmp_path)
    assert done.returncode != 0
    assert "'groupNme' does not exist in type 'AmiAutoBackupArgs'" in done.stdout, done.stdout


@pytest.fixture(scope="module")
def go_example() -> Path:
    needs("go")
    done = run("bash", str(ROOT / "tools" / "build-examples.sh"), "go")
    assert done.returncode == 0, f"tools/build-examples.sh go failed:\n{done.stderr}"
    return ROOT / "examples" / "go"


def test_go_sdk_and_example_compile(go_example: Path) -> None:
    binary = Path.home() / ".cache" / "amibackup" / "examples" / "go" / "amibackup-go-example"
    assert binary.is_file()


def test_a_go_program_that_misuses_the_sdk_does_not_compile(go_example: Path,
                                                           tmp_path: Path) -> None:
    program = (go_example / "main.go").read_text()
    assert "GroupName:" in program
    (tmp_path / "main.go").write_text(program.replace("GroupName:", "GroupNme:"))
    go_mod = (go_example / "go.mod").read_text()
    assert "=> ../../sdk/go" in go_mod
    (tmp_path / "go.mod").write_text(go_mod.replace("=> ../../sdk/go", f"=> {ROOT / 'sdk' / 'go'}"))
    shutil.copy(go_example / "go.sum", tmp_path / "go.sum")
    done = run("go", "build", "-mod=readonly", "-trimpath", "-tags", "osusergo,grpcnotrace",
               "-o", os.devnull, ".", cwd=tmp_path)
    assert done.returncode != 0
    assert "unknown field GroupNme in struct literal" in done.stderr, done.stderr


def test_python_sdk_compiles_and_takes_every_input(generated: Path) -> None:
    """The generated Python SDK (pulumi_amibackup, not the dynamic resource): it compiles, and
    its args class takes every input in snake_case. (Importing it needs it pip-installed: it
    reads its version from the installed package's metadata; tests/test_engine_python_sdk.py
    runs a program on it.)"""
    package = generated / "python" / "pulumi_amibackup"
    for source in package.rglob("*.py"):
        compile(source.read_text(), str(source), "exec")
    tree = ast.parse((package / "ami_auto_backup.py").read_text())
    args = next(n for n in tree.body if isinstance(n, ast.ClassDef)
                and n.name == "AmiAutoBackupArgs")
    init = next(n for n in args.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    params = {a.arg for a in (*init.args.args, *init.args.kwonlyargs)}
    snake = {re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), n)
             for n in resource()["inputProperties"]}
    assert snake <= params, snake - params
