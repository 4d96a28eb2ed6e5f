#!/usr/bin/env bash
# A single-node Slurm cluster on localhost for the `slurm` tests, from Debian's slurm-wlm and munge.
# Source it, then:
#   slurm_start DIR    munged + slurmctld + slurmd from a generated slurm.conf in DIR (the machine's
#                      CPUs and memory, proctrack/linuxproc, task/none, no cgroups, free unprivileged
#                      ports); exports SLURM_CONF; waits until the node is idle
#   slurm_stop         stops the three daemons by their own pids (call it from an EXIT trap)
# Nothing outside DIR is written; no system service is touched.

slurm_free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

slurm_start() {
  local dir=$1
  SLURM_DIR=$dir
  mkdir -p "$dir"/{etc,ctld,d,log,munge}
  chmod 700 "$dir/munge"
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 400 "$dir/munge/munge.key"
  local user; user=$(id -un)
  munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/seed" \
    || { echo "slurm_start: munged failed"; cat "$dir/munge/munged.log" 2>/dev/null; return 1; }
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024 ))
  cat >"$dir/etc/slurm.conf" <<CONF
ClusterName=recprism-test
SlurmctldHost=$host
SlurmUser=$user
SlurmdUser=$user
SlurmctldPort=$(slurm_free_port)
SlurmdPort=$(slurm_free_port)
SrunPortRange=$(( 30000 + RANDOM % 20000 ))-$(( 50001 + RANDOM % 10000 ))
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/d/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
MinJobAge=600
MaxArraySize=1000
KillWait=5
InactiveLimit=0
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF
  export SLURM_CONF=$dir/etc/slurm.conf
  slurmctld -f "$SLURM_CONF" || { echo "slurm_start: slurmctld failed"; tail -20 "$dir/log/slurmctld.log"; return 1; }
  slurmd -f "$SLURM_CONF" || { echo "slurm_start: slurmd failed"; tail -20 "$dir/log/slurmd.log"; return 1; }
  local i
  for i in $(seq 1 60); do
    if sinfo -h -o "%t" 2>/dev/null | grep -qE "^idle"; then return 0; fi
    sleep 1
  done
  echo "slurm_start: the node did not become idle"; sinfo 2>&1; tail -20 "$dir/log/slurmctld.log" "$dir/log/slurmd.log"
  return 1
}

slurm_stop() {
  local dir=${SLURM_DIR:-}
  [ -n "$dir" ] || return 0
  local f
  for f in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null
  done
  sleep 1
  for f in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
    [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
  done
  return 0
}
