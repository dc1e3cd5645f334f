# Helpers for guest scripts (busybox sh), installed as /lib/vpmem-guest.sh and sourced by /init
# before it runs /guest/script.

results=/dev/ttyS1
stty -F "$results" raw -echo 2>/dev/null

# emit NAME FILE: send FILE to the host as the block NAME (scripts/guest/run writes it to
# OUT/NAME). Base64 between marker lines, so any bytes survive the serial line.
emit() {
  {
    echo "vpmem-guest-begin $1"
    base64 < "$2"
    echo "vpmem-guest-end $1"
  } > "$results"
}

# emit_cmd NAME CMD...: run CMD, send its stdout as NAME and its exit code as NAME.rc. Its
# stderr goes to the console (and so to console.log).
emit_cmd() {
  name="$1"
  shift
  read -r up _ < /proc/uptime
  echo "vpmem-guest: [$up s] $name: $*"
  rc=0
  "$@" < /dev/null > /tmp/emit.out || rc=$?
  emit "$name" /tmp/emit.out
  echo "$rc" > /tmp/emit.rc
  emit "$name.rc" /tmp/emit.rc
  return 0
}
