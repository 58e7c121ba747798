"""Provisioning of one backup in AWS with boto3: the resource's imperative shell.

One module per AWS service; `backup.py` orchestrates them. Nothing here knows Pulumi.
"""
