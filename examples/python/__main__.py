"""An AMI auto-backup of an Auto Scaling group, declared in Python with the SDK generated from
amibackup's package schema (`pulumi_amibackup`: bash tools/gen-sdks.sh writes it into
sdk/python). It drives the provider plugin, as the TypeScript and Go examples do; the
dynamic resource (`from amibackup import AmiAutoBackup`) is the other way from Python."""

import pulumi
import pulumi_amibackup as amibackup

config = pulumi.Config()

backup = amibackup.AmiAutoBackup(
    "web-backup",
    group_name=config.require("groupName"),
    frequency="custom",
    cron="30 2 * * 1-5",
    timezone="Europe/Dublin",
    retention=5,
    persistence=amibackup.PersistenceArgs(private_ip=False),
    tags={"team": "web"},
)

pulumi.export("backupId", backup.backup_id)
pulumi.export("schedule", backup.schedule_description)
pulumi.export("scheduleExpression", backup.schedule_expression)
pulumi.export("latestImage", backup.latest_image_id)
pulumi.export("images", backup.image_ids)
