"""amibackup as a Pulumi provider plugin (`pulumi-resource-amibackup`), for every language.

`package_schema` derives the Pulumi package schema from `amibackup.schema` (camelCase
property names); `props` converts the engine's camelCase property maps to the snake_case
dicts the dynamic provider's hooks work on; `provider` serves them with
`pulumi.provider.experimental`. The dynamic resource (`amibackup.AmiAutoBackup`) and the
plugin share validation, provisioning and the runner.
"""
