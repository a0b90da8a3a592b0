#!/bin/sh
# PID 1 of the kernel test guest: mounts the kernel's filesystems, loads the modules the tests
# need (in the order build.sh resolved), mounts the host's share over 9p and runs its cmd.sh,
# then reports the exit code on the console for run-in-vm.sh and powers off.
# The tests themselves create gpio-sim chips and USB gadgets through configfs, so that each test
# states the hardware it runs against.
/bin/busybox --install -s /bin
# Debian's ip, tc and nft (build.sh) before busybox's applets of the same names.
export PATH=/usr/sbin:/bin
# This kernel has sch_netem (loaded below): the netem tests must measure, never skip.
export RIGOR_EXPECT_NETEM=1
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do
  case $m in
    # The profiles' temperature sensors (0x48, 0x49) and EEPROM (0x50).
    i2c_stub) args="chip_addr=0x48,0x49,0x50" ;;
    # Two UDCs: one per USB adapter the tests plug in at once.
    dummy_hcd) args="num=2" ;;
    *) args= ;;
  esac
  insmod "/lib/modules/$m.ko" $args || echo "guest-init: insmod $m failed"
done < /lib/modules/load.list
mount -t configfs configfs /sys/kernel/config
mount -t tmpfs tmpfs /tmp
RC=99
if mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 host /mnt/host; then
  echo "GUEST-TEST-START"
  sh /mnt/host/cmd.sh
  RC=$?
fi
echo "GUEST-DONE rc=$RC"
poweroff -f
