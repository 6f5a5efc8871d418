# egress-api, the management daemon; filled in with the daemon.
