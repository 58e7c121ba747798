"""`python -m amibackup.plugin <engine address>`: the provider plugin's server."""

from amibackup.plugin.provider import main

if __name__ == "__main__":
    main()
