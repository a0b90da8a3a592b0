#!/usr/bin/env bash
# Builds the kernel test guest from Debian's packages only (apt-get download; no other hosts):
#   $CACHE/out/vmlinuz         Debian's linux-image-6.12-amd64 kernel
#   $CACHE/out/initrd.cpio.gz  busybox-static, the modules the kernel tests need, gpio-sim built
#                              out of tree from Debian's linux-source (Debian does not ship it
#                              built), iproute2's ip and tc and nftables' nft with the shared
#                              libraries they load (for the netem backend), and guest-init.sh
#                              as /init
# The cache lives outside the repository; a second run with the same package versions and the
# same scripts does nothing. Needs gcc, make, xz-utils and binutils (the module's build).
# Usage: build.sh            (RIGOR_GUEST_CACHE overrides the cache directory)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${RIGOR_GUEST_CACHE:-/var/cache/rigor-kernel-guest}
mkdir -p "$CACHE/debs" "$CACHE/out"
CACHE=$(cd "$CACHE" && pwd)

# The metapackage names the current ABI; everything else is pinned to that ABI.
image() { apt-cache depends linux-image-6.12-amd64 2>/dev/null | awk '/Depends: linux-image-6/{print $2; exit}'; }
IMG=$(image)
if [ -z "$IMG" ]; then
  # A fresh machine's apt has no package lists yet.
  apt-get update -qq
  IMG=$(image)
fi
if [ -z "$IMG" ]; then
  echo "build.sh: apt knows no linux-image-6.12-amd64 (run apt-get update)" >&2
  exit 1
fi
KV=${IMG#linux-image-}   # e.g. 6.12.117+deb12-amd64
ABI=${KV%-amd64}         # e.g. 6.12.117+deb12
# ip, tc and nft, and every library package they may load (the closure of their Depends, lib*
# and zlib only: the rest is maintainer-script machinery); only the libraries they name are kept.
NET=(iproute2 nftables)
NETLIBS=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances "${NET[@]}" 2>/dev/null | grep -E '^(lib|zlib)' | sort -u)
PKGS=("$IMG" "linux-headers-$KV" "linux-headers-$ABI-common" "linux-kbuild-$ABI" linux-source-6.12 busybox-static
  "${NET[@]}" $NETLIBS)
# Modules the tests load, by name; their dependencies are added from each module's .modinfo.
# The netem backend: netem and tbf, ingress redirected to an ifb for the inbound direction, nft
# (whose libcrc32c needs a crc32c algorithm loaded first: the guest has no modprobe to fetch one).
MODULES=(configfs i2c-stub i2c-dev 9p 9pnet_virtio dummy_hcd libcomposite usb_f_acm cdc-acm sch_netem tun veth
  sch_tbf sch_ingress cls_matchall act_mirred ifb crc32c_generic nf_tables)

# The stamp covers what the output is made of: package versions and these scripts.
versions=$(apt-cache policy "${PKGS[@]}" | awk '/^[^ ]/{p=$1; sub(/:$/, "", p)} /Candidate:/{print p, $2}')
stamp=$( { echo "$versions"; echo "${MODULES[*]}"; cat "$HERE/build.sh" "$HERE/guest-init.sh"; } | sha256sum | cut -d' ' -f1)
if [ -f "$CACHE/out/stamp" ] && [ "$(cat "$CACHE/out/stamp")" = "$stamp" ] \
   && [ -f "$CACHE/out/vmlinuz" ] && [ -f "$CACHE/out/initrd.cpio.gz" ]; then
  echo "kernel guest: current ($KV) in $CACHE/out"
  exit 0
fi
echo "kernel guest: building $KV in $CACHE"

# Downloads are kept between builds; apt-get download skips nothing by itself, so ask only for
# the packages whose exact .deb is not there yet.
cd "$CACHE/debs"
missing=()
while read -r p v; do
  # Debian's file names escape the epoch colon as %3a.
  ls "${p}_${v//:/%3a}_"*.deb >/dev/null 2>&1 || missing+=("$p")
done <<< "$versions"
if [ ${#missing[@]} -gt 0 ]; then
  apt-get download "${missing[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
fi
deb() { # the newest downloaded .deb of a package
  local v; v=$(awk -v p="$1" '$1 == p {print $2}' <<< "$versions")
  ls "$CACHE/debs/${1}_${v//:/%3a}_"*.deb
}

W=$CACHE/work
rm -rf "$W"; mkdir -p "$W/x" "$W/src" "$W/gpiosim" "$W/root"
cd "$W"
# Kernel, its modules tree, and the headers (extracted, not installed: the headers package
# depends on the image package and this machine's kernel is not Debian's).
dpkg-deb -x "$(deb "$IMG")" x
for p in "linux-headers-$KV" "linux-headers-$ABI-common" "linux-kbuild-$ABI"; do dpkg-deb -x "$(deb "$p")" x; done
H=$W/x/usr/src/linux-headers-$KV
sed -i "s#/usr/src/#$W/x/usr/src/#" "$H/Makefile"

# gpio-sim: two files of Debian's linux-source, built against Debian's headers.
dpkg-deb --fsys-tarfile "$(deb linux-source-6.12)" | tar -xO ./usr/src/linux-source-6.12.tar.xz | xz -dc |
  tar -x -C src --strip-components=1 linux-source-6.12/drivers/gpio/gpio-sim.c linux-source-6.12/kernel/irq/irq_sim.c
cp src/drivers/gpio/gpio-sim.c src/kernel/irq/irq_sim.c gpiosim/
# irq_to_desc() is not exported to modules; generic_handle_irq() runs the same flow handler.
sed -i 's/handle_simple_irq(irq_to_desc(irqnum));/generic_handle_irq(irqnum);/' gpiosim/irq_sim.c
grep -q 'generic_handle_irq(irqnum);' gpiosim/irq_sim.c || { echo "build.sh: irq_sim.c changed; patch did not apply" >&2; exit 1; }
printf 'obj-m += gpio-sim-oot.o\ngpio-sim-oot-y := gpio-sim.o irq_sim.o\n' > gpiosim/Makefile
# No pahole here, so no BTF for the module (the kernel loads it without).
nice -n 10 make -s -C "$H" M="$W/gpiosim" CONFIG_DEBUG_INFO_BTF_MODULES= modules

# Module load order: each module after the modules its .modinfo depends on.
MD=$W/x/lib/modules/$KV
declare -A PATHOF SEEN
while read -r f; do b=$(basename "$f"); b=${b%.ko.xz}; b=${b%.ko}; PATHOF[${b//-/_}]=$f; done < <(find "$MD" -name '*.ko*')
ORDER=()
modinfo_depends() {
  xz -dc "$1" > "$W/m.ko"
  objcopy -O binary --only-section=.modinfo "$W/m.ko" "$W/m.info"
  tr '\0' '\n' < "$W/m.info" | sed -n 's/^depends=//p' | tr ',' ' '
}
visit() {
  local n=${1//-/_} d
  [ -n "${SEEN[$n]:-}" ] && return
  SEEN[$n]=1
  [ -n "${PATHOF[$n]:-}" ] || { echo "build.sh: no module $n in $KV" >&2; exit 1; }
  for d in $(modinfo_depends "${PATHOF[$n]}"); do visit "$d"; done
  ORDER+=("$n")
}
for m in "${MODULES[@]}"; do visit "$m"; done

R=$W/root
mkdir -p "$R/bin" "$R/dev" "$R/proc" "$R/sys" "$R/tmp" "$R/run" "$R/mnt/host" "$R/lib/modules"
dpkg-deb -x "$(deb busybox-static)" x/bb
cp x/bb/bin/busybox "$R/bin/"
ln -s busybox "$R/bin/sh"
: > "$R/lib/modules/load.list"
for n in "${ORDER[@]}"; do
  xz -dc "${PATHOF[$n]}" > "$R/lib/modules/$n.ko"
  echo "$n" >> "$R/lib/modules/load.list"
done
strip --strip-debug -o "$R/lib/modules/gpio_sim_oot.ko" gpiosim/gpio-sim-oot.ko
echo gpio_sim_oot >> "$R/lib/modules/load.list"
# ip, tc and nft in /usr/sbin (ahead of busybox's applets of the same names on PATH), and the
# shared libraries they need, found by following DT_NEEDED through the unpacked packages.
mkdir -p x/net "$R/usr/sbin" "$R/lib64" "$R/lib/x86_64-linux-gnu"
for p in "${NET[@]}" $NETLIBS; do dpkg-deb -x "$(deb "$p")" x/net; done
declare -A COPIED
copy_needed() {
  local lib path
  for lib in $(objdump -p "$1" | awk '/NEEDED/{print $2}'); do
    [ -n "${COPIED[$lib]:-}" ] && continue
    COPIED[$lib]=1
    path=
    for dir in x/net/lib/x86_64-linux-gnu x/net/usr/lib/x86_64-linux-gnu; do
      [ -e "$dir/$lib" ] && { path=$dir/$lib; break; }
    done
    [ -n "$path" ] || { echo "build.sh: no $lib in the unpacked packages" >&2; exit 1; }
    cp -L "$path" "$R/lib/x86_64-linux-gnu/$lib"
    copy_needed "$path"
  done
}
for b in bin/ip sbin/tc usr/sbin/nft; do
  cp -L "x/net/$b" "$R/usr/sbin/"
  copy_needed "x/net/$b"
done
cp -L x/net/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$R/lib64/"
install -m 755 "$HERE/guest-init.sh" "$R/init"
(cd "$R" && find . | "$W/x/bb/bin/busybox" cpio -o -H newc 2>/dev/null | gzip -6) > "$CACHE/out/initrd.cpio.gz.new"
cp "x/boot/vmlinuz-$KV" "$CACHE/out/vmlinuz"
mv "$CACHE/out/initrd.cpio.gz.new" "$CACHE/out/initrd.cpio.gz"
echo "$stamp" > "$CACHE/out/stamp"
echo "kernel guest: built $KV in $CACHE/out; modules: $(tr '\n' ' ' < "$R/lib/modules/load.list")"
rm -rf "$W"
