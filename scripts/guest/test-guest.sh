# The guest half of scripts/guest/test (busybox sh, run by /init with guest-lib.sh sourced). It
# does what a Linux user would do with the NVDIMMs and emits what it saw; every judgement is made
# on the host. /guest/slots lists the vNVDIMMs, one a line: SLOT LABEL_SIZE VERSION ROLE, where
# ROLE is
#   accept      vpmem initialised its label area: does Linux take it and provision in it?
#   ndctl       a never-written (zero) area that ndctl init-labels initialises
#   namespaces  ndctl initialises a zero area and creates named namespaces in it
#   vpmemns     vpmem initialised the area and created namespaces in it: Linux lists them
# Each emitted block is named after what it holds and, where it is per vNVDIMM, its slot.
# Under TCG every fork costs: sysfs is read with the shell's own `read`, and ndctl is run once for
# many DIMMs where it can be.

# The nmem of each NFIT device handle (QEMU gives slot N handle N+1; sysfs prints it in hex), and
# the region of each nmem (its mapping0 is "nmemX,offset,length,position").
for d in /sys/bus/nd/devices/nmem*; do
  [ -e "$d/nfit/handle" ] || continue
  read -r h < "$d/nfit/handle"
  eval "nmem_of_handle_$((h))=${d##*/}"
done
for r in /sys/bus/nd/devices/region*; do
  [ -e "$r/mapping0" ] || continue
  read -r m < "$r/mapping0"
  eval "region_of_${m%%,*}=${r##*/}"
done

# /tmp/map: SLOT NMEM REGION SEED_DEVTYPE VERSION ROLE. The seed namespace's type says whether
# the kernel took the label area: nd_namespace_pmem in a labelled region, nd_namespace_io in a
# label-less one.
: > /tmp/map
while read -r slot label version role; do
  eval "nmem=\${nmem_of_handle_$((slot + 1)):-none}"
  eval "region=\${region_of_$nmem:-none}"
  devtype=none
  if [ -e "/sys/bus/nd/devices/$region/namespace_seed" ]; then
    read -r seed < "/sys/bus/nd/devices/$region/namespace_seed"
    read -r devtype < "/sys/bus/nd/devices/$seed/devtype"
  fi
  echo "$slot $nmem $region $devtype $version $role" >> /tmp/map
done < /guest/slots
emit map /tmp/map

emit_cmd ndctl-list-boot ndctl list -DRNiv
cp /sys/firmware/acpi/tables/NFIT /tmp/nfit
emit nfit /tmp/nfit

# Linux's acceptance of vpmem's areas: ndctl parses their index blocks, and provisions in them.
accept_nmems=""
while read -r slot nmem region devtype version role; do
  [ "$role" = accept ] || continue
  accept_nmems="$accept_nmems $nmem"
  emit_cmd "create-$slot" ndctl create-namespace -r "$region" -m raw -s 16M -n "accept-$slot"
done < /tmp/map
emit_cmd read-labels ndctl read-labels -j -I $accept_nmems

# ndctl's own label areas, each written on a zero area (init-labels keeps the bytes of its index
# blocks that it does not set), with the regions disabled as ndctl requires. One init-labels per
# version, for every DIMM of that version.
ndctl disable-region all > /dev/null
for v in 1.1 1.2; do
  nmems="$(awk -v v="$v" '$6 == "ndctl" && $5 == v { printf " %s", $2 }' /tmp/map)"
  emit_cmd "init-labels-v$v" ndctl init-labels -f -V "$v" $nmems
done

# Namespaces Linux creates, for the host to decode from the backing.
while read -r slot nmem region devtype version role; do
  [ "$role" = namespaces ] || continue
  emit_cmd "init-labels-$slot" ndctl init-labels -f -V "$version" "$nmem"
  ndctl enable-region "$region" > /dev/null
  emit_cmd "create-fsdax-$slot" ndctl create-namespace -r "$region" -m fsdax -s 96M -n "vpmem fsdax $slot"
  emit_cmd "create-devdax-$slot" ndctl create-namespace -r "$region" -m devdax -s 64M -n "vpmem-devdax-$slot"
  emit_cmd "create-raw-$slot" ndctl create-namespace -r "$region" -m raw -s 32M -n "vpmem-raw-$slot"
  # Raw size, uuid and name as the kernel holds them: DEV SIZE UUID NAME (the name last: it may
  # hold spaces).
  : > "/tmp/namespaces-$slot"
  for ns in /sys/bus/nd/devices/"$region"/namespace[0-9]*; do
    read -r size < "$ns/size"
    [ "$size" != 0 ] || continue
    read -r uuid < "$ns/uuid"
    read -r name < "$ns/alt_name"
    echo "${ns##*/} $size $uuid $name" >> "/tmp/namespaces-$slot"
  done
  emit "namespaces-$slot" "/tmp/namespaces-$slot"
done < /tmp/map

emit_cmd ndctl-list-end ndctl list -DRNiv

# vpmem itself on this guest's real (to Linux) pmem.
emit_cmd vpmem-version vpmem --version
for dax in /dev/dax*; do
  [ -e "$dax" ] || continue
  emit_cmd vpmem-pmem-info-dax vpmem pmem info "$dax" --json
  break
done
emit_cmd vpmem-host-list vpmem host list --json
