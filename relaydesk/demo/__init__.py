"""The demo organisation that ``relaydesk demo`` (``make demo``) seeds: see :mod:`.seed`."""
