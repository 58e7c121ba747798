"""`amibackup run | list | next` against moto."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from amibackup import __version__
from amibackup.cli import main
from amibackup.provision import package
from amibackup.provision.scheduler import schedule_input
from amibackup.runner.clients import Clients
from amibackup.runner.config import Job, job_environment
from devkit.scenarios import DemoGroup, default_image, signing_key


def test_next_shows_expression_description_and_runs(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["next", "30 2 * * 1-5", "--timezone", "Europe/Paris", "--count", "3"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "expression:  cron(30 2 ? * 2-6 *)"
    assert out[1] == "timezone:    Europe/Paris"
    assert len([line for line in out if line.startswith("  20")]) == 3
    assert all("T02:30:00+0" in line for line in out[3:])
    assert main(["next", "weekly"]) == 0
    assert "cron(0 0 ? * SUN *)" in capsys.readouterr().out


def test_next_refuses_too_frequent(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["next", "*/5 * * * *"]) == 2
    assert "minimum is 10 minutes" in capsys.readouterr().err


def test_run_then_list(clients: Clients, group: DemoGroup,
                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--group", "web", "--backup", "ops",
                 "--tag", "team=ops"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["created"] and summary["promoted"] == summary["created"]
    assert default_image(clients("ec2"), group.template_id) == summary["created"]
    assert main(["list", "--group", "web"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["created", "image", "state", "backup"]
    assert summary["created"] in out[1] and "ops" in out[1] and out[-1] == "1 image(s)"
    with pytest.raises(SystemExit):
        main(["run", "--group", "web", "--tag", "novalue"])


def test_an_adhoc_backup_on_a_group_a_deployed_backup_claims(
        clients: Clients, group: DemoGroup, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 18 item 13: `run --backup ID` makes and prunes its own images; the template
    stays the deployed backup's (it is not promoted, and the deployed runs carry on)."""
    from amibackup.names import Names
    from amibackup.provision import backup
    from amibackup.runner import record
    from amibackup.runner.seal import of_backup
    from amibackup.schema import BackupSpec
    from amibackup.spec import normalise
    from devkit.scenarios import T0, fire_schedule

    spec = BackupSpec.from_props(normalise({"backup_name": "web-backup", "group_name": "web"}))
    outs = backup.create(clients, spec)  # claims the group's template
    deployed = fire_schedule(clients, outs["backup_id"], T0)["created"]
    capsys.readouterr()
    assert main(["run", "--group", "web", "--backup", "ops"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["created"] and summary["promoted"] is None and not summary["failed"]
    assert "claimed by backup " + outs["backup_id"] in " ".join(summary["skipped"])
    assert default_image(clients("ec2"), group.template_id) == deployed
    ours = record.read(clients("ssm"), Names("ops").record_parameter,
                       of_backup(clients("kms"), "ops"))
    assert set(ours.images) == {summary["created"]}
    later = fire_schedule(clients, outs["backup_id"], T0 + timedelta(hours=1))
    assert later["promoted"] == later["created"] and not later["failed"]


def test_run_without_backup_runs_the_groups_scheduled_job(
        clients: Clients, group: DemoGroup, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="no amibackup schedule for group 'web'"):
        main(["run", "--group", "web"])
    job = Job("web-backup-1234", "web", retention=2, tags={"team": "web"})
    signing_key(clients, job.backup_id)  # deploying makes the record's key
    role = clients("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]
    function = clients("lambda").create_function(
        FunctionName="amibackup-web-backup-1234", Runtime="python3.12", Role=role["Arn"],
        Handler=package.HANDLER, Code={"ZipFile": package.runner_zip()},
        Environment={"Variables": job_environment(job)})
    clients("scheduler").create_schedule(
        Name="amibackup-web-backup-1234", ScheduleExpression="rate(1 hour)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": function["FunctionArn"], "RoleArn": role["Arn"],
                "Input": schedule_input()})
    assert main(["run", "--group", "web"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert "function amibackup-web-backup-1234" in captured.err
    assert summary["backup"] == "web-backup-1234" and summary["created"]
    tags = {t["Key"]: t["Value"] for t in clients("ec2").describe_images(
        ImageIds=[summary["created"]])["Images"][0]["Tags"]}
    assert tags["team"] == "web" and tags["amibackup:backup"] == "web-backup-1234"


def _cli(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed command's code in a fresh process, with only `env` for AWS settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base.update({"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
                 "AWS_EC2_METADATA_DISABLED": "true", **env})
    return subprocess.run([sys.executable, "-m", "amibackup.cli", *argv], env=base,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.parametrize(("env", "says"), [
    ({"AWS_DEFAULT_REGION": "eu-west-1"}, "Unable to locate credentials"),
    ({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"}, "must specify a region"),
])
def test_aws_setup_errors_are_one_line_not_a_traceback(env: dict[str, str], says: str) -> None:
    out = _cli("list", "--group", "web", **env)
    assert out.returncode == 1 and out.stdout == ""
    assert "Traceback" not in out.stderr and len(out.stderr.splitlines()) == 1, out.stderr
    assert out.stderr.startswith("error: ") and says in out.stderr


def test_version_and_no_demo_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"amibackup {__version__}"
    with pytest.raises(SystemExit) as done:
        main(["demo"])  # the demo is dev tooling: `python -m devkit.demo`
    assert done.value.code == 2


def test_an_adhoc_backups_pending_image_leaves_no_rule_behind(
        clients: Clients, group: DemoGroup, capsys: pytest.CaptureFixture[str]) -> None:
    """An ad-hoc backup has no AMI rule: its pending image makes none (PutRule would create
    one nobody deletes); its next run adopts the image and promotes it."""
    from devkit.localaws.ec2 import images_pending, release_images

    with images_pending() as hold:
        assert main(["run", "--group", "web", "--backup", "ops"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["created"] == hold.image_ids[0] and first["in_flight"] == [first["created"]]
    assert any("no AMI event rule" in s for s in first["skipped"])
    assert clients("events").list_rules()["Rules"] == []
    release_images(hold.image_ids)
    assert main(["run", "--group", "web", "--backup", "ops"]) == 0
    later = json.loads(capsys.readouterr().out)
    assert later["adopted"] == [first["created"]] and later["promoted"] == first["created"]
    assert default_image(clients("ec2"), group.template_id) == first["created"]
