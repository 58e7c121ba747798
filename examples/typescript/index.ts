// An AMI auto-backup of an Auto Scaling group, declared in TypeScript with the SDK generated
// from amibackup's package schema (bash tools/gen-sdks.sh writes it into sdk/nodejs).
import * as pulumi from "@pulumi/pulumi";
import * as amibackup from "@amibackup/pulumi";

const config = new pulumi.Config();

const backup = new amibackup.AmiAutoBackup("web-backup", {
    groupName: config.require("groupName"),
    frequency: config.get("frequency") ?? "hourly", // or "custom" with a cron:
    cron: config.get("cron"),                       // e.g. "30 2 * * 1-5"
    timezone: config.get("timezone"),               // e.g. "Europe/Dublin"
    retention: config.getNumber("retention") ?? 5,
    persistence: { privateIp: config.getBoolean("privateIp") ?? false },
    tags: { team: "web" },
});

export const backupId = backup.backupId;
export const schedule = backup.scheduleDescription;
export const scheduleExpression = backup.scheduleExpression;
export const latestImage = backup.latestImageId;
export const images = backup.imageIds;
