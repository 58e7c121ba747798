// An AMI auto-backup of an Auto Scaling group, declared in Go with the SDK generated from
// amibackup's package schema (bash tools/gen-sdks.sh writes it into sdk/go; go.mod points
// the SDK's module path there).
package main

import (
	"github.com/amibackup/amibackup/sdk/go/amibackup"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		cfg := config.New(ctx, "")
		backup, err := amibackup.NewAmiAutoBackup(ctx, "web-backup", &amibackup.AmiAutoBackupArgs{
			GroupName:   pulumi.String(cfg.Require("groupName")),
			Frequency:   pulumi.StringPtr("custom"),
			Cron:        pulumi.StringPtr("30 2 * * 1-5"),
			Timezone:    pulumi.StringPtr("Europe/Dublin"),
			Retention:   pulumi.IntPtr(5),
			Persistence: &amibackup.PersistenceArgs{PrivateIp: pulumi.BoolPtr(false)},
			Tags:        pulumi.StringMap{"team": pulumi.String("web")},
		})
		if err != nil {
			return err
		}
		ctx.Export("backupId", backup.BackupId)
		ctx.Export("schedule", backup.ScheduleDescription)
		ctx.Export("scheduleExpression", backup.ScheduleExpression)
		ctx.Export("latestImage", backup.LatestImageId)
		ctx.Export("images", backup.ImageIds)
		return nil
	})
}
