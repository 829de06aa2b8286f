"""Interactive apps (Jupyter Lab, a terminal, operators' apps) as jobs behind the proxy."""
