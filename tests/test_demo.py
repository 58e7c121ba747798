"""The README's main job, `python -m devkit.demo`, end to end: a moto server with the strict
layers, the plain `pulumi` CLI with our language host, the schedule played through
devkit.scenarios. The demo runs once; each test reads one scene of what the user sees.

The engine is needed: set AMIBACKUP_REQUIRE_ENGINE=1 (as .ci/run does) to fail rather than
skip when it cannot be found or built.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TICKS = 4


@pytest.fixture(scope="module")
def demo() -> str:
    """The demo's output (stdout, what the user reads); the run must succeed."""
    if not (shutil.which("pulumi") or shutil.which("go")) and \
            os.environ.get("AMIBACKUP_REQUIRE_ENGINE") != "1":
        pytest.skip("no Pulumi engine, and no Go to build one")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PULUMI_"))}
    out = subprocess.run([sys.executable, "-m", "devkit.demo", "--ticks", str(TICKS)],
                         cwd=ROOT, capture_output=True, text=True, env=env, timeout=900,
                         check=False)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-3000:]
    return out.stdout


def scene(text: str, title: str) -> str:
    """The lines of one scene: from its `== title` heading to the next heading."""
    start = text.index(f"\n== {title}")
    end = text.find("\n== ", start + 1)
    return text[start:end if end > 0 else None]


def tick_lines(text: str) -> list[str]:
    """The timeline's lines, one per scheduled run."""
    return [ln for ln in text.splitlines() if re.match(r"\s+\w{3} \d\d:\d\d \| ", ln)]


def test_plain_cli_previews_the_schedule_then_creates(demo: str) -> None:
    cli = scene(demo, "the plain pulumi CLI")
    assert "$ pulumi stack select --create local" in cli
    preview = cli[cli.index("$ pulumi preview --diff"):cli.index("$ pulumi up --yes")]
    assert re.search(r'schedule_description\s*: "every 10 minutes"', preview)
    assert "+ 2 to create" in preview
    up = cli[cli.index("$ pulumi up --yes"):]
    assert "+ 2 created" in up
    assert re.search(r"backup demo-web-backup-[0-9a-f]{8}: every 10 minutes", up)


def test_ticks_create_promote_and_prune(demo: str) -> None:
    ticks = tick_lines(scene(demo, "playing the schedule"))
    assert len(ticks) == TICKS
    assert all("| created ami-" in t and "| template v" in t for t in ticks)
    assert "pruned ami-" in ticks[-1] and "3 kept" in ticks[-1]  # retention 3, 4 ticks


def test_template_settings_survive_every_promotion(demo: str) -> None:
    settings = scene(demo, "the template's settings")
    assert f"default version v{TICKS + 1} (of {TICKS + 1})" in settings
    assert '"HttpTokens": "required"' in settings
    assert "echo amibackup demo > /etc/motd" in settings
    assert '{"app": "demo-web"}' in settings
    assert "survived every promotion: yes" in settings


def test_spot_replacement_launches_the_newest_backup(demo: str) -> None:
    assert "= newest backup" in scene(demo, "Spot interruption")


def test_rollback_to_an_older_backup_is_kept(demo: str) -> None:
    rollback = scene(demo, "rollback")
    older = re.search(r"made the older backup (ami-\w+) the default", rollback)
    assert older, rollback
    (tick,) = tick_lines(rollback)
    assert f"launches {older[1]}" in tick and f"pruned {older[1]}" not in tick
    assert "skipped: " in tick  # and says why
    assert f"rollback kept: the template still launches {older[1]}" in rollback
    assert "ROLLBACK NOT KEPT" not in rollback


def test_manual_change_is_respected_until_the_group_runs_it(demo: str) -> None:
    manual = scene(demo, "changing the AMI by hand")
    picked = re.search(r"operator made (ami-\w+) the default", manual)
    assert picked, manual
    waiting, resumed = tick_lines(manual)
    assert "skipped: manual change" in waiting and f"launches {picked[1]}" in waiting
    assert f"rolled the group: instances now run {picked[1]}" in manual
    assert "| created ami-" in resumed


def test_a_slow_image_is_promoted_on_its_event_between_two_runs(demo: str) -> None:
    slow = scene(demo, "a slow image is promoted on its own event")
    previous = re.findall(r"\| created (ami-\w+)", scene(demo, "changing the AMI by hand"))[-1]
    held, following = tick_lines(slow)
    image = re.search(r"\| created (ami-\w+)", held)
    assert image, slow
    assert f"launches {previous}" in held and "| template v" not in held  # the run: no wait
    returned = (f"the run returned at once: {image[1]} is pending; the template still launches"
                f" the previous backup {previous}")
    event = re.search(r'\{"source": "aws.ec2", "detail-type": "EC2 AMI State Change", '
                      rf'"detail": {{"ImageId": "{image[1]}", "State": "available"}}}}', slow)
    promoted = re.search(rf"rule (\S+)-ami invoked \1: promoted {image[1]} \(template v\d+\)",
                         slow)
    assert event and promoted, slow
    launches = f"before the next scheduled run the template launches {image[1]}"
    order = [slow.index(returned), event.start(), promoted.start(), slow.index(launches),
             slow.index(following)]
    assert order == sorted(order)
    assert "| created ami-" in following and "EVENT DELIVERY FAILED" not in slow


def test_refresh_reads_the_images_into_the_state(demo: str) -> None:
    refreshed = scene(demo, "pulumi refresh")
    assert "$ pulumi refresh --yes" in refreshed
    assert "the state matches the backup's images in AWS: yes" in refreshed


def test_preview_refuses_a_stateful_group_naming_the_field(demo: str) -> None:
    refused = scene(demo, "a stateful group is refused")
    assert "has a problem: persistence: root_volume persistence makes the group stateful" \
        in refused
    assert re.search(r"\(exit code [1-9]\d*\)", refused)
    assert "preview refused it, as it should" in refused


def test_destroy_leaves_nothing_and_the_group_image_exists(demo: str) -> None:
    destroyed = scene(demo, "pulumi destroy")
    assert "- 2 deleted" in destroyed
    assert "images of the backup left: 0; their snapshots left: 0" in destroyed
    assert "its schedules, functions and roles left: 0" in destroyed
    assert "(exists: True)" in destroyed


def test_a_latest_group_is_promoted_on_latest_and_restored_by_destroy(demo: str) -> None:
    """Issue 18 item 1 in the demo: promotions on a `$Latest` group move `$Latest` only, and
    destroy leaves both `$Latest` and `$Default` on a live image that is not a backup."""
    latest = scene(demo, "a $Latest group")
    assert re.search(r"\$Latest: version \d+ launches ami-\w+ \(a backup\)", latest), latest
    assert re.search(r"\$Default: version \d+ launches ami-\w+ \(a backup\)", latest), latest
    destroyed = scene(demo, "pulumi destroy")
    after = {which: re.search(rf"\{which}: version (\d+) launches (ami-\w+) \(exists: True\)",
                              destroyed) for which in ("$Latest", "$Default")}
    assert all(after.values()), destroyed
    assert re.search(r"the group launches \$Latest, ami-\w+ \(exists: True\)", destroyed)
