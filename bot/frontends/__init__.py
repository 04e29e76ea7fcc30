"""Front ends: the CLI, the terminal chat, the Slack app and its HTTP server, the clock, and the renderers
that turn replies into Block Kit or text. The top layer: nothing imports it."""
