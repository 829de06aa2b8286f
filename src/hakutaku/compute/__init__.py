"""Compute: partitions, QOS, jobs, the scheduler loop and its backends (local, Slurm)."""
