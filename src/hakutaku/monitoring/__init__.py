"""Monitoring: the cluster snapshot, the samples behind the charts, alerts, /metrics gauges.

- `cluster.py`: what a partition holds and has free (cards by model, CPUs, memory, nodes), read
  from the local capacity model (`local.py`) or from Slurm's node list (`slurm.py`);
- `monitor.py`: the loop every replica runs. One replica at a time — the holder of the lease
  `monitor:<backend>` — reads the cluster, writes the snapshot and appends samples; every
  replica samples its own gateway (`gateway.py`) and reads the snapshot back into memory, which
  is what pages and /metrics show: no page view ever runs a scheduler command;
- `samples.py`: samples written, pruned, and read back as chart series;
- `alerts.py`: the conditions an operator acts on, from the database and the samples;
- `homes.py`: the homes measured for the near-quota alert;
- `prometheus.py`: the snapshot as Prometheus gauges on the gateway's registry.
"""
