"""The Slurm backend: jobs handed to a real Slurm with `sbatch`, followed with `squeue`/`sacct`.

Slurm keeps its own queue and enforces its own limits (partitions, QOS, accounts): the platform
passes its names through unchanged (`--partition`, `--qos`, `--account`), and a job that breaks
a limit is refused by `sbatch` at submission (with `EnforcePartLimits=ALL` and QOS
`Flags=DenyOnLimit`, see docs/slurm.md); the refusal names the limit and its value.

Whose job it is. When the server runs as root, the job is submitted *as the Unix user with the
platform user's name*, so that Slurm's per-user limits (MaxSubmitPU, MaxTRESPU), fair share and
accounting see the real user, and the job's files belong to them: with `sbatch --uid/--gid`
where this sbatch has them (Slurm 22.05 does; root only; no PAM session, no extra process; the
per-user limits were checked to count the target user), else through `runuser -u USER --
sbatch`. The job's folder is given to the user (Slurm opens the log as the user). A platform
user with no regular Unix account (uid below UID_MIN, `nobody`, or none at all) is refused
rather than run as root. When the server is not root, jobs are submitted as the server's own
user, and Slurm's per-user limits apply to that one user.

The environment. The job gets a small environment built here (PATH, LANG, TZ, SLURM_CONF of the
server; HOME, USER, LOGNAME, SHELL of the job's user), then the job's own variables and
HAI_JOB_ID; it is given to sbatch's process with `--export=ALL`, rather than listed in
`--export=NAME=VALUE,...`, whose commas would split values. The server's secrets are never in
it, and variables named SBATCH_* or SLURM_* are dropped so a job cannot change its own
resources or account through them.
"""

from __future__ import annotations

import math
import os
import pwd
import shlex
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hakutaku.compute.accelerators import RUNTIME_OF_KIND, VISIBLE_DEVICES
from hakutaku.compute.backends.base import ChangeRefused, JobRequest, Observed, SubmitRefused
from hakutaku.compute.backends.slurm_refusal import is_unreachable, refusal_message, slurm_lines
from hakutaku.compute.backends.slurm_status import (
    SACCT_FIELDS,
    SQUEUE_TEXT_FORMAT,
    parse_sacct_text,
    parse_squeue_json,
    parse_squeue_text,
)
from hakutaku.config import Settings
from hakutaku.errors import PlatformError

COMMAND_TIMEOUT = 60.0  # seconds; a slurmctld that answers slower than this is in trouble
_PASSED_FROM_SERVER = ("PATH", "LANG", "LC_ALL", "TZ", "SLURM_CONF")
_SLURM_INPUT_PREFIXES = ("SBATCH_", "SLURM_")
# Times from squeue/sacct's text output, in UTC and ISO format whatever the server's locale.
_QUERY_ENV = {"TZ": "UTC", "SLURM_TIME_FORMAT": "%Y-%m-%dT%H:%M:%S"}


class SlurmUnavailable(PlatformError):
    """Slurm could not be asked (not installed, slurmctld or slurmdbd down): not the job's fault."""

    status = 503
    type = "server_error"
    code = "slurm_unavailable"


@dataclass(frozen=True)
class _Submitter:
    """The Unix user a job is submitted as."""

    name: str
    uid: int
    gid: int
    home: str
    shell: str
    as_other_user: bool  # True: the server (root) submits on this user's behalf


class SlurmBackend:
    name = "slurm"
    queues_itself = True

    def __init__(self, settings: Settings) -> None:
        self.bin_dir = settings.slurm_bin
        self._sbatch_has_uid: bool | None = None

    # -- submit ----------------------------------------------------------------------------------

    def submit(self, request: JobRequest) -> str:
        submitter = self._submitter(request.user)
        job_dir = Path(request.job_dir)
        self._prepare_files(request, job_dir, submitter)
        argv = [*self._sbatch_prefix(submitter), *self._sbatch_options(request)]
        argv.append(str(job_dir / "slurm.sh"))
        done = self._run(argv, env=self._job_environment(request, submitter))
        if done.returncode != 0:
            if is_unreachable(done.stderr):
                raise SlurmUnavailable(
                    f"Cannot reach Slurm to submit the job: {'; '.join(slurm_lines(done.stderr))}"
                    ". Check that slurmctld is running (`scontrol ping`)."
                )
            raise SubmitRefused(
                refusal_message(
                    done.stderr, request, self._qos_limits, self._partition_info, submitter.name
                )
            )
        # --parsable prints `JOBID` or `JOBID;CLUSTER`.
        return done.stdout.strip().splitlines()[-1].split(";")[0].strip()

    def _submitter(self, user: str) -> _Submitter:
        if os.geteuid() != 0:
            me = pwd.getpwuid(os.geteuid())
            return _Submitter(me.pw_name, me.pw_uid, me.pw_gid, me.pw_dir, me.pw_shell, False)
        try:
            entry = pwd.getpwnam(user)
        except KeyError:
            entry = None
        if entry is None or not _is_regular_user(entry):
            # A root server never runs a job as root or as a system account (mysql, slurm, ...):
            # any platform user without a Unix account of their own would get root on the nodes.
            raise SubmitRefused(
                f"Jobs run as their users on this Slurm, and there is no regular Unix user "
                f"{user!r} here (uid {_uid_min()} or above); an operator creates one (`useradd "
                f"{user}`, or in the directory service) and a Slurm association for it "
                f"(`sacctmgr add user {user} account=GROUP`)."
            )
        return _Submitter(user, entry.pw_uid, entry.pw_gid, entry.pw_dir, entry.pw_shell, True)

    def _prepare_files(self, request: JobRequest, job_dir: Path, submitter: _Submitter) -> None:
        workdir = Path(request.workdir)
        if not workdir.is_dir():
            raise SubmitRefused(
                f"The working directory {workdir} does not exist; create it or choose another."
            )
        job_dir.mkdir(parents=True, exist_ok=True)
        log_dir = Path(request.log_path).parent
        log_dir.mkdir(parents=True, exist_ok=True)
        if request.script is not None:
            (job_dir / "script.sh").write_text(request.script)
            body = f"exec /bin/bash {shlex.quote(str(job_dir / 'script.sh'))}"
        else:
            body = f"exec {shlex.join(request.command)}"
        title = " ".join(request.name.split())  # one line: it goes into a comment
        (job_dir / "slurm.sh").write_text(
            "#!/bin/bash\n"
            f"# hakutaku job {request.id} ({title}), for {request.user}; the platform\n"
            "# passes its resources on sbatch's command line.\n"
            f"{self._visible_devices_lines(request)}"
            f"{body}\n"
        )
        if submitter.as_other_user:
            self._hand_files_to(submitter, job_dir, log_dir, workdir)
            if request.script is None:
                _check_executable(request.command[0], submitter)

    @staticmethod
    def _hand_files_to(submitter: _Submitter, job_dir: Path, log_dir: Path, workdir: Path) -> None:
        """Give the job's folder to its user, and check they can reach what the job needs:
        slurmstepd opens the log and the job enters its working directory as that user."""
        owned = {job_dir, *job_dir.iterdir()}
        if log_dir == job_dir or job_dir in log_dir.parents:
            owned.add(log_dir)  # never chown a folder the platform does not own (e.g. /tmp)
        for path in owned:
            os.chown(path, submitter.uid, submitter.gid)
        for folder in (job_dir, log_dir, workdir):
            blocked = _first_blocked(folder, submitter)
            if blocked is not None:
                raise SubmitRefused(
                    f"User {submitter.name} cannot reach {folder}: {blocked} (mode "
                    f"{stat.filemode(blocked.stat().st_mode)}, owner uid {blocked.stat().st_uid})"
                    " is closed to them. Put HAI_JOBS_DIR and HAI_STORAGE_ROOT (the users' "
                    "working directories) on storage every job user can traverse."
                )
        if log_dir not in owned and not _may_write(log_dir, submitter):
            raise SubmitRefused(
                f"User {submitter.name} cannot write the job's log in {log_dir}; choose a log "
                "folder they can write."
            )

    def _visible_devices_lines(self, request: JobRequest) -> str:
        """Lines that set the runtime's visible-devices variable for `dcu` and `npu` cards.

        Slurm sets CUDA_VISIBLE_DEVICES (and ROCR_, ZE_) itself for gres `gpu` only; for other
        gres it sets nothing, but the job's detailed record names the indexes it was given:
        `GRES=dcu:k100ai:2(IDX:0-1)`. The script reads them at start and exports them as
        HIP_VISIBLE_DEVICES (ROCm, Hygon DCU) or ASCEND_RT_VISIBLE_DEVICES (Ascend).
        """
        kind = request.accelerator
        if kind in ("cpu", "gpu") or request.accelerators <= 0 or kind not in RUNTIME_OF_KIND:
            return ""
        variable = VISIBLE_DEVICES[RUNTIME_OF_KIND[kind]]
        scontrol = shlex.quote(self._binary("scontrol"))
        return (
            f"# Slurm sets no visible-devices variable for gres {kind}: take the indexes it gave.\n"
            f'hai_idx=$({scontrol} show job -d "$SLURM_JOB_ID" 2>/dev/null'
            f" | grep -o 'GRES={kind}[^ ]*(IDX:[0-9,-]*)' | head -n 1"
            " | sed 's/.*IDX:\\([0-9,-]*\\)).*/\\1/')\n"
            'hai_list=""\n'
            'IFS=, read -ra hai_parts <<< "$hai_idx"\n'
            'for hai_part in "${hai_parts[@]}"; do\n'
            "  if [[ $hai_part == *-* ]]; then\n"
            "    for ((hai_i = ${hai_part%-*}; hai_i <= ${hai_part#*-}; hai_i++)); do"
            ' hai_list+="${hai_list:+,}$hai_i"; done\n'
            '  else hai_list+="${hai_list:+,}$hai_part"; fi\n'
            "done\n"
            f'export {variable}="$hai_list"\n'
            "unset hai_idx hai_list hai_parts hai_part hai_i\n"
        )

    def _sbatch_prefix(self, submitter: _Submitter) -> list[str]:
        sbatch = self._binary("sbatch")
        if not submitter.as_other_user:
            return [sbatch]
        if self._sbatch_supports_uid():
            return [sbatch, f"--uid={submitter.uid}", f"--gid={submitter.gid}"]
        runuser = shutil.which("runuser") or "/usr/sbin/runuser"
        return [runuser, "-u", submitter.name, "--", sbatch]

    def _sbatch_options(self, request: JobRequest) -> list[str]:
        options = [
            "--parsable",
            f"--job-name={request.name or f'hai-{request.id}'}",
            f"--comment=hakutaku job {request.id}",
            f"--partition={request.partition}",
            f"--qos={request.qos}",
            "--nodes=1",
            "--ntasks=1",
            f"--cpus-per-task={request.cpus}",
            # Slurm counts whole minutes; round up so a job never gets less than it asked for.
            f"--time={max(1, math.ceil(request.time_limit / 60))}",
            f"--chdir={request.workdir}",
            f"--output={request.log_path}",  # stderr goes there too when --error is not given
            "--open-mode=append",
            "--export=ALL",
            # A job that fails with its node ends as failed instead of silently starting over.
            "--no-requeue",
        ]
        if request.account:
            options.append(f"--account={request.account}")
        if request.mem_mb > 0:  # --mem=0 would mean "all of the node's memory"
            options.append(f"--mem={request.mem_mb}M")
        if request.accelerators > 0 and request.accelerator != "cpu":
            model = f"{request.accelerator_model}:" if request.accelerator_model else ""
            options.append(f"--gres={request.accelerator}:{model}{request.accelerators}")
        return options

    def _job_environment(self, request: JobRequest, submitter: _Submitter) -> dict[str, str]:
        env = {k: os.environ[k] for k in _PASSED_FROM_SERVER if k in os.environ}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        env.update(
            HOME=submitter.home, USER=submitter.name, LOGNAME=submitter.name, SHELL=submitter.shell
        )
        env.update(
            (k, v) for k, v in request.env.items() if not k.startswith(_SLURM_INPUT_PREFIXES)
        )
        env["HAI_JOB_ID"] = str(request.id)
        return env

    def _sbatch_supports_uid(self) -> bool:
        if self._sbatch_has_uid is None:
            done = self._run([self._binary("sbatch"), "--help"])
            self._sbatch_has_uid = "--uid" in done.stdout
        return self._sbatch_has_uid

    # -- follow ----------------------------------------------------------------------------------

    def poll(self, external_ids: list[str]) -> dict[str, Observed]:
        wanted = {str(i) for i in external_ids}
        if not wanted:
            return {}
        seen = self._from_squeue(wanted)
        # slurmdbd knows the jobs slurmctld has forgotten (after MinJobAge), and fills in what
        # the live record of a finished job lacks.
        ask_accounting = {i for i in wanted if i not in seen or seen[i].state.final}
        if ask_accounting:
            try:
                recorded = self._from_sacct(ask_accounting)
            except SlurmUnavailable:
                if ask_accounting - seen.keys():
                    raise
                recorded = {}
            for job_id, observed in recorded.items():
                seen[job_id] = _merge(seen.get(job_id), observed)
        return seen

    def _from_squeue(self, wanted: set[str]) -> dict[str, Observed]:
        squeue = self._binary("squeue")
        done = self._run([squeue, "--json"], env=_QUERY_ENV)
        if done.returncode == 0:
            try:
                return parse_squeue_json(done.stdout, wanted)
            except (ValueError, KeyError, TypeError):
                pass  # no JSON support (a Slurm built without it), or a shape not known: text
        jobs = ",".join(sorted(wanted))
        text_query = [squeue, "--noheader", "--states=all", f"--jobs={jobs}"]
        done = self._run([*text_query, f"--format={SQUEUE_TEXT_FORMAT}"], env=_QUERY_ENV)
        if done.returncode != 0:
            if "invalid job id" in done.stderr.lower():
                return {}  # none of them is known to slurmctld any more; sacct will tell
            raise SlurmUnavailable(
                f"squeue failed: {'; '.join(slurm_lines(done.stderr))}. Check that slurmctld is "
                "running (`scontrol ping`)."
            )
        return parse_squeue_text(done.stdout)

    def _from_sacct(self, wanted: set[str]) -> dict[str, Observed]:
        done = self._run(
            [
                self._binary("sacct"),
                "--noheader",
                "--parsable2",
                "--allocations",
                "--allusers",
                f"--jobs={','.join(sorted(wanted))}",
                f"--format={SACCT_FIELDS}",
            ],
            env=_QUERY_ENV,
        )
        if done.returncode != 0:
            raise SlurmUnavailable(
                f"sacct failed: {'; '.join(slurm_lines(done.stderr))}. Check that slurmdbd is "
                "running (`sacctmgr show cluster`)."
            )
        return {k: v for k, v in parse_sacct_text(done.stdout).items() if k in wanted}

    # -- cancel ----------------------------------------------------------------------------------

    def cancel(self, external_id: str) -> None:
        done = self._run([self._binary("scancel"), str(external_id)])
        said = done.stderr.lower()
        if done.returncode != 0 and "invalid job id" not in said and "already" not in said:
            raise SlurmUnavailable(
                f"scancel {external_id} failed: {'; '.join(slurm_lines(done.stderr))}."
            )

    # -- change ----------------------------------------------------------------------------------

    def set_time_limit(self, external_id: str, time_limit: int) -> None:
        """`scontrol update JobId=N TimeLimit=MINUTES` (rounded up, as at submission).

        Slurm lets only its operators (root, SlurmUser, AdminLevel operator) raise a job's time
        limit, and does not hold an operator to the partition's MaxTime or the QOS's MaxWall:
        the platform checks its policy before it asks (ComputeService.extend)."""
        minutes = max(1, math.ceil(time_limit / 60))
        done = self._run(
            [self._binary("scontrol"), "update", f"JobId={external_id}", f"TimeLimit={minutes}"]
        )
        if done.returncode == 0:
            return
        said = "; ".join(slurm_lines(done.stderr)) or done.stdout.strip() or "no message"
        if is_unreachable(done.stderr):
            raise SlurmUnavailable(
                f"Cannot reach Slurm to change job {external_id}'s time limit: {said}. Check "
                "that slurmctld is running (`scontrol ping`)."
            )
        lowered = said.lower()
        if "already finished" in lowered or "invalid job id" in lowered:
            raise ChangeRefused(f"Slurm job {external_id} has already ended ({said}).", ended=True)
        if "access" in lowered and "denied" in lowered:
            me = pwd.getpwuid(os.geteuid()).pw_name
            raise ChangeRefused(
                f"Slurm lets only its operators raise a job's time limit, and the server runs "
                f"as {me}, who is not one ({said}). An operator runs the server as root, or "
                f"makes {me} an operator: `sacctmgr modify user {me} set adminlevel=operator`."
            )
        raise ChangeRefused(f"Slurm refused the new time limit of job {external_id}: {said}.")

    # -- Slurm's own view of its limits, for refusal messages --------------------------------------

    def _qos_limits(self, qos: str) -> dict[str, str]:
        fields = ("MaxWall", "MaxSubmitPU", "MaxTRESPU", "MaxTRES")
        sacctmgr = [self._binary("sacctmgr"), "--noheader", "--parsable2"]
        done = self._run(
            [*sacctmgr, "show", "qos", "where", f"name={qos}", f"format={','.join(fields)}"]
        )
        values = done.stdout.strip().splitlines()[0].split("|") if done.returncode == 0 else []
        return {k: v for k, v in zip(fields, values, strict=False) if v}

    def _partition_info(self, partition: str) -> dict[str, str]:
        done = self._run([self._binary("scontrol"), "--oneliner", "show", "partition", partition])
        if done.returncode != 0:
            return {}
        pairs = (word.partition("=") for word in done.stdout.split())
        return {key: value for key, sep, value in pairs if sep}

    # -- running Slurm's commands ----------------------------------------------------------------

    def _binary(self, name: str) -> str:
        if self.bin_dir is not None:
            return str(self.bin_dir / name)
        return shutil.which(name) or name

    def _run(
        self, argv: list[str], env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        full_env = env if env is not None and "PATH" in env else {**os.environ, **(env or {})}
        try:
            return subprocess.run(
                argv,
                capture_output=True,
                text=True,
                env=full_env,
                timeout=COMMAND_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            where = self.bin_dir or "PATH"
            raise SlurmUnavailable(
                f"{Path(argv[0]).name} is not installed or not in {where}; install Slurm's "
                "client tools, or set HAI_SLURM_BIN to the folder that has them."
            ) from None
        except subprocess.TimeoutExpired:
            raise SlurmUnavailable(
                f"`{shlex.join(argv[:3])} ...` did not answer within {COMMAND_TIMEOUT:.0f} s; "
                "Slurm is overloaded or down (`scontrol ping`)."
            ) from None


def _uid_min() -> int:
    """The first uid of regular users (UID_MIN of /etc/login.defs; 1000 when unset)."""
    try:
        for line in Path("/etc/login.defs").read_text().splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "UID_MIN" and words[1].isdigit():
                return int(words[1])
    except OSError:
        pass
    return 1000


def _is_regular_user(entry: pwd.struct_passwd) -> bool:
    return entry.pw_uid >= _uid_min() and entry.pw_name != "nobody" and entry.pw_uid != 65534


def _merge(live: Observed | None, recorded: Observed) -> Observed:
    """One view of a job from slurmctld's (`live`) and slurmdbd's (`recorded`) records.

    slurmctld is the authority while it remembers the job; slurmdbd's record trails it by a few
    seconds (a running job can still read PENDING there, a finished one can lack its QOS), so
    it only fills in what slurmctld's record lacks, such as the exit code in squeue's text.
    """
    if live is None:
        return recorded
    if not live.state.final:
        return live
    return Observed(
        state=live.state,
        exit_code=live.exit_code if live.exit_code is not None else recorded.exit_code,
        started_at=live.started_at or recorded.started_at,
        ended_at=live.ended_at or recorded.ended_at,
        reason=live.reason or recorded.reason,
        node=live.node or recorded.node,
    )


def _first_blocked(folder: Path, submitter: _Submitter) -> Path | None:
    """The first folder on the way to `folder` (or itself) that the user may not enter."""
    for step in [*reversed(folder.parents), folder]:
        if not _allowed(step, submitter, stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH):
            return step
    return None


def _check_executable(program: str, submitter: _Submitter) -> None:
    """Refuse a job whose program (an absolute path) its user cannot run: Slurm would start
    it and it would fail at once with exit code 126, saying nothing of why. A virtual
    environment's `python` is a link into the interpreter it was made from, which may sit in
    a folder closed to others (/root/.pyenv): both the link and its target are checked."""
    path = Path(program)
    if not path.is_absolute():
        return  # found on the job's PATH on the node
    real = Path(os.path.realpath(path))
    for candidate in dict.fromkeys((path, real)):
        blocked = _first_blocked(candidate.parent, submitter)
        if blocked is None and candidate.exists():
            allowed = _allowed(candidate, submitter, stat.S_IXUSR, stat.S_IXGRP, stat.S_IXOTH)
            blocked = None if allowed else candidate
        if blocked is not None:
            info = blocked.stat()
            raise SubmitRefused(
                f"User {submitter.name} cannot execute {program}: {blocked} (mode "
                f"{stat.filemode(info.st_mode)}, owner uid {info.st_uid}) is closed to them. "
                "Install what the job runs where every job user can execute it (for "
                "deployments, HAI_DEPLOY_PYTHON names the Python their workers run with)."
            )


def _may_write(folder: Path, submitter: _Submitter) -> bool:
    return _allowed(folder, submitter, stat.S_IWUSR, stat.S_IWGRP, stat.S_IWOTH)


def _allowed(
    path: Path, submitter: _Submitter, user_bit: int, group_bit: int, other_bit: int
) -> bool:
    """The permission bits that apply to the user (POSIX modes; ACLs are not looked at)."""
    info = path.stat()
    if info.st_uid == submitter.uid:
        return bool(info.st_mode & user_bit)
    if info.st_gid in set(os.getgrouplist(submitter.name, submitter.gid)):
        return bool(info.st_mode & group_bit)
    return bool(info.st_mode & other_bit)
