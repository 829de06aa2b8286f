"""The server process: composes the gateway, the control API and the background loops."""
