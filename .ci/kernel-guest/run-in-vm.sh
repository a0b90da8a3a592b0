#!/usr/bin/env bash
# Cargo runner for the x86_64-unknown-linux-musl kernel tests: boots the Debian kernel guest that
# build.sh made, with the (static) test binary shared read-only over 9p, runs it there with
# cargo's arguments, and exits with its exit code. The guest's console (kernel messages, the
# test's output) goes to stdout; only the test's output is shown unless the guest fails to report.
# Env: RIGOR_GUEST_CACHE (as build.sh), RIGOR_GUEST_TIMEOUT (seconds, default 300).
# Usage (cargo does this): run-in-vm.sh /path/to/test-binary [args...]
set -uo pipefail
BIN=$1
shift
# The workspace, mounted read-only at the same path in the guest: tests read the shipped rigs and
# profiles where the repository keeps them.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${RIGOR_GUEST_CACHE:-/var/cache/rigor-kernel-guest}/out
if [ ! -f "$OUT/vmlinuz" ] || [ ! -f "$OUT/initrd.cpio.gz" ]; then
  echo "run-in-vm: no guest in $OUT; run .ci/kernel-guest/build.sh first" >&2
  exit 98
fi
SHARE=$(mktemp -d)
trap 'rm -rf "$SHARE"' EXIT
cp "$BIN" "$SHARE/testbin"
{
  printf 'mkdir -p %q && mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro src %q || exit 97\n' "$ROOT" "$ROOT"
  printf 'cd /tmp && RUST_BACKTRACE=1 exec /mnt/host/testbin'
  for a in "$@"; do printf ' %q' "$a"; done
  echo
} > "$SHARE/cmd.sh"
# TCG, not KVM: /dev/kvm here is a nested hypervisor that stops Debian kernels. The timeout keeps
# a hung guest from hanging CI.
timeout "${RIGOR_GUEST_TIMEOUT:-300}" qemu-system-x86_64 -accel tcg -m 512 -smp 1 \
  -nodefaults -no-user-config -display none -serial stdio -no-reboot \
  -kernel "$OUT/vmlinuz" -initrd "$OUT/initrd.cpio.gz" \
  -virtfs "local,path=$SHARE,mount_tag=host,security_model=none,readonly=on" \
  -virtfs "local,path=$ROOT,mount_tag=src,security_model=none,readonly=on" \
  -append "console=ttyS0 quiet panic=-1" </dev/null 2>&1 | tr -d '\r' > "$SHARE/console.log"
sed -n '/^GUEST-TEST-START/,/^GUEST-DONE/{/^GUEST-/d;p}' "$SHARE/console.log"
rc=$(sed -n 's/^GUEST-DONE rc=\([0-9]*\).*/\1/p' "$SHARE/console.log")
if [ -z "$rc" ]; then
  echo "run-in-vm: the guest did not report an exit code; its console:" >&2
  tail -60 "$SHARE/console.log" >&2
  exit 99
fi
exit "$rc"
