"""Turn a platform policy file (partitions and QOS) into Slurm's configuration.

deploy/slurm/start.sh calls this so that the Slurm it brings up has exactly the partitions and
QOS the platform is told about (HAI_COMPUTE_POLICY): one file, no drift. Sub-commands:

    slurm-conf --node N --cpus C --mem-mb M --devices D   the policy's part of slurm.conf
    gres-conf --node N --dev-dir DIR --devices D          gres.conf with fake device files
    kinds                                                 accelerator kinds (gres names)
    job-submit-lua                                        job_submit.lua: partitions' default QOS
    sacctmgr    --phase qos|tres --cluster C --accounts "physics=root,alice,bob cms=alice" [--run]

`sacctmgr` prints the commands (review them on a real cluster) or, with `--run`, runs them. It has
two phases because Slurm knows a `gres/gpu` TRES only after slurmctld has registered it, while
slurmctld refuses to start when a partition names a QOS that does not exist yet: phase `qos`
(before slurmctld) creates the QOS without their gres limits, and the accounts and users; phase
`tres` (after) sets the full MaxTRESPerUser.

Usage: python deploy/slurm/slurm_from_policy.py [--policy deploy/slurm/policy.toml] COMMAND ...
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
try:
    from hakutaku.compute.policy import Policy, PolicyError, QosSpec, load_policy
    from hakutaku.compute.units import format_duration, format_tres
except (
    ImportError
):  # run from a checkout without the package installed: the modules are stdlib-only
    sys.path.insert(0, str(HERE.parent.parent / "src"))
    from hakutaku.compute.policy import Policy, PolicyError, QosSpec, load_policy
    from hakutaku.compute.units import format_duration, format_tres

DEFAULT_POLICY = HERE / "policy.toml"
# sacctmgr answers these when an `add` finds the thing already there: a restart on old state.
ALREADY_THERE = ("Nothing new added", "already exists")
NOTHING_CHANGED = "Nothing modified"  # a `modify` to the values already set


def accelerator_kinds(policy: Policy) -> list[str]:
    """The gres names the policy needs (gpu, dcu, npu), in the order partitions name them."""
    kinds: list[str] = []
    for partition in policy.partitions.values():
        if partition.accelerator != "cpu" and partition.accelerator not in kinds:
            kinds.append(partition.accelerator)
    return kinds


def device_model(policy: Policy, kind: str) -> str | None:
    """The gres type of the fake devices of one kind: the first model a partition names."""
    for partition in policy.partitions.values():
        if partition.accelerator == kind and partition.models:
            return partition.models[0]
    return None


def slurm_conf(policy: Policy, node: str, cpus: int, mem_mb: int, devices: int) -> str:
    kinds = accelerator_kinds(policy)
    gres = []
    for kind in kinds:
        model = device_model(policy, kind)
        gres.append(f"{kind}:{model}:{devices}" if model else f"{kind}:{devices}")
    lines = []
    if kinds:
        lines.append(f"GresTypes={','.join(kinds)}")
    # billing and the gres TRES are recorded per job, so sacct shows card-hours for accounting.
    lines.append("AccountingStorageTRES=" + ",".join(["billing", *(f"gres/{k}" for k in kinds)]))
    node_line = f"NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb}"
    if gres:
        node_line += f" Gres={','.join(gres)}"
    lines.append(node_line + " State=UNKNOWN")
    default = policy.default_partition or next(iter(policy.partitions))
    for p in policy.partitions.values():
        # No partition QOS (QOS=): it would override the job's QOS limits unless every job QOS
        # had Flags=OverPartQOS. AllowQos alone lets each job's own QOS limits apply.
        line = (
            f"PartitionName={p.name} Nodes={node} Default={'YES' if p.name == default else 'NO'} "
            f"DefaultTime={format_duration(p.default_time)} MaxTime={format_duration(p.max_time)} "
            "State=UP"
        )
        if p.qos:
            line += f" AllowQos={','.join(p.qos)}"
        lines.append(line)
    return "\n".join(lines) + "\n"


def gres_conf(policy: Policy, node: str, dev_dir: Path, devices: int) -> str:
    lines = ["AutoDetect=off"]
    for kind in accelerator_kinds(policy):
        model = device_model(policy, kind)
        files = f"{dev_dir}/{kind}[0-{devices - 1}]" if devices > 1 else f"{dev_dir}/{kind}0"
        type_part = f" Type={model}" if model else ""
        lines.append(f"NodeName={node} Name={kind}{type_part} File={files}")
    return "\n".join(lines) + "\n"


def job_submit_lua(policy: Policy) -> str:
    """Slurm gives a job its association's one default QOS whatever the partition; this plugin
    picks the partition's own default instead when the job names none."""
    defaults = {p.name: p.default_qos for p in policy.partitions.values() if p.default_qos}
    default_partition = policy.default_partition or next(iter(policy.partitions))
    table = ",\n".join(f'  ["{name}"] = "{qos}"' for name, qos in sorted(defaults.items()))
    return f"""-- Generated by deploy/slurm/slurm_from_policy.py from the platform's policy file.
-- A job that names no QOS gets its partition's default QOS.
local default_qos = {{
{table}
}}

function slurm_job_submit(job_desc, part_list, submit_uid)
  if job_desc.qos == nil then
    local partition = job_desc.partition or "{default_partition}"
    local qos = default_qos[partition]
    if qos ~= nil then
      job_desc.qos = qos
    end
  end
  return slurm.SUCCESS
end

function slurm_job_modify(job_desc, job_rec, part_list, modify_uid)
  return slurm.SUCCESS
end
"""


def parse_accounts(text: str) -> dict[str, list[str]]:
    """`physics=root,alice,bob cms=alice` → {"physics": ["root", "alice", "bob"], "cms": [...]}"""
    accounts: dict[str, list[str]] = {}
    for item in text.split():
        name, sep, users = item.partition("=")
        if not sep or not name:
            raise SystemExit(f"--accounts: cannot read {item!r}; write ACCOUNT=USER,USER ...")
        accounts[name] = [u for u in users.split(",") if u]
    return accounts


def qos_limits(qos: QosSpec, with_gres: bool) -> list[str]:
    settings = [f"Priority={qos.priority}", "Flags=DenyOnLimit"]
    if qos.max_wall is not None:
        settings.append(f"MaxWall={format_duration(qos.max_wall)}")
    if qos.max_submit_pu is not None:
        settings.append(f"MaxSubmitJobsPerUser={qos.max_submit_pu}")
    tres = {k: v for k, v in qos.max_tres_pu.items() if with_gres or not k.startswith("gres/")}
    if tres:
        settings.append(f"MaxTRESPerUser={format_tres(tres)}")
    return settings


@dataclass(frozen=True)
class Step:
    """One sacctmgr command, and what to run instead when it finds its object already there
    (a restart on old state): `add` sets everything in one call, `modify` brings it up to date.
    Fewer calls matter: each costs slurmdbd a quarter to half a second."""

    command: list[str]
    if_exists: list[str] | None = None


def sacctmgr_commands(
    policy: Policy, phase: str, cluster: str, accounts: dict[str, list[str]]
) -> list[Step]:
    if phase == "tres":
        return [
            Step(["modify", "qos", "where", f"name={q.name}", "set", *qos_limits(q, True)])
            for q in policy.qos.values()
            if any(k.startswith("gres/") for k in q.max_tres_pu)
        ]
    steps = [Step(["add", "cluster", cluster])]
    for q in policy.qos.values():
        settings = qos_limits(q, with_gres=False)
        steps.append(
            Step(
                ["add", "qos", q.name, *settings],
                ["modify", "qos", "where", f"name={q.name}", "set", *settings],
            )
        )
    default_partition = policy.default_partition or next(iter(policy.partitions))
    default_qos = policy.partitions[default_partition].default_qos or next(iter(policy.qos))
    qos_settings = [f"QOS={','.join(policy.qos)}", f"DefaultQOS={default_qos}"]
    default_account: dict[str, str] = {}
    for account, users in accounts.items():
        steps.append(
            Step(
                ["add", "account", account, f"Cluster={cluster}", *qos_settings],
                ["modify", "account", "where", f"name={account}", "set", *qos_settings],
            )
        )
        for user in users:
            default_account.setdefault(user, account)
        if users:
            names = ",".join(users)
            add_users = ["add", "user", names, f"Account={account}", f"Cluster={cluster}"]
            modify_users = ["modify", "user", "where", f"name={names}", f"account={account}"]
            steps.append(Step([*add_users, *qos_settings], [*modify_users, "set", *qos_settings]))
    # `add user` leaves an existing user's default account alone (root's is `root`, whose only
    # QOS is `normal`): set it, so a job that names no account is billed where the QOS allow it.
    by_account: dict[str, list[str]] = {}
    for user, account in default_account.items():
        by_account.setdefault(account, []).append(user)
    for account, users in by_account.items():
        names = ",".join(users)
        steps.append(
            Step(["modify", "user", "where", f"name={names}", "set", f"DefaultAccount={account}"])
        )
    return steps


def run_sacctmgr(steps: list[Step]) -> None:
    for step in steps:
        output = _sacctmgr(step.command)
        if step.if_exists is not None and any(s in output for s in ALREADY_THERE):
            _sacctmgr(step.if_exists)


def _sacctmgr(args: list[str]) -> str:
    argv = ["sacctmgr", "-i", *args]
    done = subprocess.run(argv, capture_output=True, text=True)
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0 and not any(s in output for s in (*ALREADY_THERE, NOTHING_CHANGED)):
        raise SystemExit(f"`{shlex.join(argv)}` failed (exit {done.returncode}): {output}")
    return output


def print_sacctmgr(steps: list[Step]) -> None:
    for step in steps:
        print(shlex.join(["sacctmgr", "-i", *step.command]))
        if step.if_exists is not None:
            print("  # if it exists already:", shlex.join(["sacctmgr", "-i", *step.if_exists]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    sub = parser.add_subparsers(dest="command", required=True)
    conf = sub.add_parser("slurm-conf")
    conf.add_argument("--node", required=True)
    conf.add_argument("--cpus", type=int, required=True)
    conf.add_argument("--mem-mb", type=int, required=True)
    conf.add_argument("--devices", type=int, default=4)
    gres = sub.add_parser("gres-conf")
    gres.add_argument("--node", required=True)
    gres.add_argument("--dev-dir", type=Path, required=True)
    gres.add_argument("--devices", type=int, default=4)
    sub.add_parser("kinds")
    sub.add_parser("job-submit-lua")
    acct = sub.add_parser("sacctmgr")
    acct.add_argument("--phase", choices=("qos", "tres"), required=True)
    acct.add_argument("--cluster", required=True)
    acct.add_argument("--accounts", default="")
    acct.add_argument("--run", action="store_true", help="run the commands instead of printing")
    args = parser.parse_args(argv)

    try:
        policy = load_policy(args.policy)
    except PolicyError as exc:
        raise SystemExit(str(exc)) from exc
    if args.command == "slurm-conf":
        print(slurm_conf(policy, args.node, args.cpus, args.mem_mb, args.devices), end="")
    elif args.command == "gres-conf":
        print(gres_conf(policy, args.node, args.dev_dir, args.devices), end="")
    elif args.command == "kinds":
        print("\n".join(accelerator_kinds(policy)))
    elif args.command == "job-submit-lua":
        print(job_submit_lua(policy), end="")
    else:
        commands = sacctmgr_commands(
            policy, args.phase, args.cluster, parse_accounts(args.accounts)
        )
        if args.run:
            run_sacctmgr(commands)
        else:
            print_sacctmgr(commands)


if __name__ == "__main__":
    main()
