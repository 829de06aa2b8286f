"""Where jobs run: `local` (child processes on this machine) or `slurm` (a real Slurm)."""
