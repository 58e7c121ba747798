"""A demo Auto Scaling group in (emulated) AWS: launch template, base AMI, instances.

Used by the demo and the tests, against moto in-process or a moto server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

EMULATOR_AMI = "ami-12c6146b"  # one of the images moto ships in every region


@dataclass(frozen=True)
class DemoGroup:
    group_name: str
    template_id: str
    template_name: str
    base_image: str


def base_image(ec2: Any, name: str) -> str:
    """An AMI of our own (with a snapshot), not made by amibackup: the group's starting AMI."""
    found = ec2.describe_images(Owners=["self"], Filters=[{"Name": "name", "Values": [name]}])
    if found["Images"]:
        return found["Images"][0]["ImageId"]
    boot = ec2.run_instances(ImageId=EMULATOR_AMI, MinCount=1, MaxCount=1,
                             InstanceType="t3.micro")["Instances"][0]["InstanceId"]
    image = ec2.create_image(InstanceId=boot, Name=name, NoReboot=True)["ImageId"]
    ec2.terminate_instances(InstanceIds=[boot])
    return image


def create_group(clients: Any, name: str = "demo-web", size: int = 2) -> DemoGroup:
    """Create (or reuse) a group launching `size` instances from a launch template."""
    ec2, asg = clients("ec2"), clients("autoscaling")
    image = base_image(ec2, f"{name}-base")
    template_name = f"{name}-lt"
    found = ec2.describe_launch_templates(
        Filters=[{"Name": "launch-template-name", "Values": [template_name]}])["LaunchTemplates"]
    if found:
        template_id = found[0]["LaunchTemplateId"]
    else:
        template_id = ec2.create_launch_template(
            LaunchTemplateName=template_name,
            LaunchTemplateData={"ImageId": image, "InstanceType": "t3.micro",
                                "Monitoring": {"Enabled": True},
                                "TagSpecifications": [{"ResourceType": "instance", "Tags": [
                                    {"Key": "app", "Value": name}]}]},
        )["LaunchTemplate"]["LaunchTemplateId"]
    groups = asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"]
    if not groups:
        zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
        asg.create_auto_scaling_group(
            AutoScalingGroupName=name,
            LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Default"},
            MinSize=0, MaxSize=max(size, 1) * 2, DesiredCapacity=size,
            AvailabilityZones=[zone])
    return DemoGroup(name, template_id, template_name, image)


def default_image(ec2: Any, template_id: str) -> str:
    versions = ec2.describe_launch_template_versions(
        LaunchTemplateId=template_id, Versions=["$Default"])["LaunchTemplateVersions"]
    return versions[0]["LaunchTemplateData"]["ImageId"]


def group_instances(clients: Any, group: str) -> list[dict[str, Any]]:
    """The group's instances as EC2 describes them (image id, launch time, state)."""
    members = clients("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[group])["AutoScalingGroups"][0]["Instances"]
    if not members:
        return []
    reservations = clients("ec2").describe_instances(
        InstanceIds=[m["InstanceId"] for m in members])["Reservations"]
    return [i for r in reservations for i in r["Instances"]]
