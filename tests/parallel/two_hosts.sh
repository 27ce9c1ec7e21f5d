#!/usr/bin/env bash
# Runs an MPI program on two "hosts" on one machine: two network namespaces joined by a veth pair
# (10.77.0.1 and 10.77.0.2), Open MPI over TCP between them, RANKS_PER_HOST ranks (default 2) on
# each. Checks from each rank's own report that the ranks really ran in both namespaces.
#   tests/parallel/two_hosts.sh <program> [args...]        (as root; STRATA_MPIEXEC=<mpirun>)
# Exits 77 with "SKIPPED: …" where namespaces cannot be made (not root, no CAP_NET_ADMIN, no
# iproute2, no Open MPI).
set -euo pipefail

skip() { echo "SKIPPED: two_hosts.sh: $*"; exit 77; }

[ $# -ge 1 ] || { echo "usage: $0 <program> [args...]" >&2; exit 2; }
program=$(readlink -f "$1")
shift
[ -x "$program" ] || { echo "two_hosts.sh: $program is not an executable" >&2; exit 2; }
mpirun=${STRATA_MPIEXEC:-mpirun}
per_host=${RANKS_PER_HOST:-2}

[ "$(id -u)" -eq 0 ] || skip "network namespaces need root (running as uid $(id -u))"
command -v ip >/dev/null 2>&1 || skip "no 'ip' command (iproute2)"
command -v "$mpirun" >/dev/null 2>&1 || skip "no MPI launcher '$mpirun'"
version=$("$mpirun" --version 2>&1 || true)
[[ "$version" == *"Open MPI"* || "$version" == *OpenRTE* ]] || skip "'$mpirun' is not Open MPI's (its TCP and launcher options are used here)"

tag=$$
ns_a=strata-$tag-a
ns_b=strata-$tag-b
veth_a=st${tag}a
veth_b=st${tag}b
work=$(mktemp -d "${TMPDIR:-/tmp}/strata-two-hosts.XXXXXX")
cleanup() {
  ip netns del "$ns_a" 2>/dev/null || true  # deleting a namespace deletes its end of the veth pair
  ip netns del "$ns_b" 2>/dev/null || true
  ip link del "$veth_a" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

if ! err=$(ip netns add "$ns_a" 2>&1); then skip "cannot create a network namespace: $err"; fi
ip netns add "$ns_b"
if ! err=$(ip netns exec "$ns_a" true 2>&1); then skip "cannot run a command in a network namespace: $err"; fi
if ! err=$(ip link add "$veth_a" type veth peer name "$veth_b" 2>&1); then skip "cannot create a veth pair: $err"; fi
ip link set "$veth_a" netns "$ns_a"
ip link set "$veth_b" netns "$ns_b"
ip -n "$ns_a" addr add 10.77.0.1/24 dev "$veth_a"
ip -n "$ns_b" addr add 10.77.0.2/24 dev "$veth_b"
for ns in "$ns_a" "$ns_b"; do
  ip -n "$ns" link set lo up
done
ip -n "$ns_a" link set "$veth_a" up
ip -n "$ns_b" link set "$veth_b" up

# Open MPI starts the ranks of a host that is not mpirun's through an rsh agent, as
# `agent <host> <shell command>`: this one runs the command in the host's namespace instead of
# over ssh (both "hosts" share the file system).
cat >"$work/agent" <<EOF
#!/bin/sh
while [ "\${1#-}" != "\$1" ]; do shift; done  # ssh options, if any
case "\$1" in
  10.77.0.1) ns=$ns_a ;;
  10.77.0.2) ns=$ns_b ;;
  *) echo "two_hosts.sh agent: unknown host '\$1'" >&2; exit 1 ;;
esac
shift
exec ip netns exec "\$ns" sh -c "\$*"
EOF
chmod +x "$work/agent"
# Hosts by address: both namespaces have the machine's host name, which must not make one node.
printf '10.77.0.1 slots=%s\n10.77.0.2 slots=%s\n' "$per_host" "$per_host" >"$work/hosts"
# Each rank says where it runs, then becomes the program.
cat >"$work/rank" <<'EOF'
#!/bin/sh
echo "two_hosts: rank ${OMPI_COMM_WORLD_RANK:-?} in namespace $(ip netns identify) at $(ip -o -4 addr show scope global | awk '{print $4}' | tr '\n' ' ')"
exec "$@"
EOF
chmod +x "$work/rank"

ranks=$((2 * per_host))
echo "two_hosts.sh: $ranks ranks, $per_host in $ns_a (10.77.0.1, mpirun's) and $per_host in $ns_b (10.77.0.2)"
# TCP only: no shared-memory transport (both namespaces share /dev/shm and the host name) and the
# ob1 messaging layer, which uses the BTLs named, rather than UCX. The runtime's own traffic (oob)
# and the ranks' go over the veth pair.
status=0
OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 TMPDIR="$work" \
  timeout 240 ip netns exec "$ns_a" "$mpirun" --oversubscribe -np "$ranks" --hostfile "$work/hosts" \
    --mca plm_rsh_agent "$work/agent" --mca pml ob1 --mca btl tcp,self \
    --mca btl_tcp_if_include 10.77.0.0/24 --mca oob_tcp_if_include 10.77.0.0/24 \
    "$work/rank" "$program" "$@" >"$work/output" 2>&1 || status=$?
cat "$work/output"

if [ "$status" -ne 0 ]; then
  echo "two_hosts.sh: mpirun exited with status $status" >&2
  exit 1
fi
in_a=$(grep -c "^two_hosts: rank .* in namespace $ns_a at 10.77.0.1/24" "$work/output" || true)
in_b=$(grep -c "^two_hosts: rank .* in namespace $ns_b at 10.77.0.2/24" "$work/output" || true)
if [ "$in_a" -ne "$per_host" ] || [ "$in_b" -ne "$per_host" ]; then
  echo "two_hosts.sh: expected $per_host ranks in each namespace, found $in_a in $ns_a and $in_b in $ns_b" >&2
  exit 1
fi
echo "two_hosts.sh: passed: $in_a ranks in $ns_a, $in_b in $ns_b, over TCP"
