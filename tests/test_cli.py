"""`amibackup run | list | next` against moto."""

from __future__ import annotations

import json

import pytest

from amibackup.cli import main
from amibackup.runner.clients import Clients
from devkit.scenarios import DemoGroup, default_image


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
    assert main(["run", "--group", "web", "--backup", "ops", "--no-snapshot-tags",
                 "--tag", "team=ops", "--poll", "1"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["created"] and summary["promoted"] == summary["created"]
    assert default_image(clients("ec2"), group.template_id) == summary["created"]
    assert main(["list", "--group", "web"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["created", "image", "state", "backup"]
    assert summary["created"] in out[1] and "ops" in out[1] and out[-1] == "1 image(s)"
    with pytest.raises(SystemExit):
        main(["run", "--group", "web", "--tag", "novalue"])


def test_run_without_backup_runs_the_groups_scheduled_job(
        clients: Clients, group: DemoGroup, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit, match="no amibackup schedule for group 'web'"):
        main(["run", "--group", "web"])
    job = {"backup_id": "web-backup-1234", "group_name": "web", "retention": 2,
           "tags": {"team": "web"}, "tag_snapshots": False,
           "scheduled_time": "<aws.scheduler.scheduled-time>"}
    clients("scheduler").create_schedule(
        Name="amibackup-web-backup-1234", ScheduleExpression="rate(1 hour)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": "arn:aws:lambda:us-east-1:123456789012:function:f",
                "RoleArn": "arn:aws:iam::123456789012:role/r", "Input": json.dumps(job)})
    assert main(["run", "--group", "web", "--poll", "1"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert "schedule amibackup-web-backup-1234" in captured.err
    assert summary["backup"] == "web-backup-1234" and summary["created"]
    tags = {t["Key"]: t["Value"] for t in clients("ec2").describe_images(
        ImageIds=[summary["created"]])["Images"][0]["Tags"]}
    assert tags["team"] == "web" and tags["amibackup:backup"] == "web-backup-1234"
