#!/bin/sh
# Runs one lab host until it halts: joins the host's own cgroups (before nspawn starts, so the guest's
# systemd never shares a cgroup with another guest), then boots systemd-nspawn, and boots it again
# when the guest reboots (nspawn exits 133 for that). Any other exit ends the host.
# usage: launcher.sh HOST_DIR CGROUP_DIR... -- systemd-nspawn ARGS...
host_dir=$1; shift
while [ "$#" -gt 0 ] && [ "$1" != "--" ]; do
  echo $$ > "$1/cgroup.procs" || { echo "launcher: cannot join cgroup $1" >&2; exit 1; }
  shift
done
shift
echo "launcher: $$ starting host in $host_dir"
while :; do
  "$@"
  rc=$?
  [ "$rc" -eq 133 ] || { echo "launcher: systemd-nspawn exited with $rc, host stopped"; exit "$rc"; }
  echo "launcher: guest rebooted, starting it again"
done
