"""Physics: jet generation (Pythia 8 + FastJet), dataset formats, features, taggers, training.

This package is a library: it never imports the server. The hub, the workers and jobs use it.
"""
