"""Physics: jet generation (Pythia 8 + FastJet), dataset formats, features, taggers, training.

This package is a library: it never imports the server. The hub, the workers and jobs use it.
`submit_training` sends a training to the platform as a job (over HTTP, `hakutaku.sdk`).
"""

from hakutaku.hep.submit import submit_training

__all__ = ["submit_training"]
