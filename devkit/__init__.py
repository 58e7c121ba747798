"""amibackup's dev kit: local AWS, demo, engine host, scenarios. Not shipped."""
