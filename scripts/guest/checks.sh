# Host-side helpers of scripts/guest/test (bash): the check runner, label areas of backings, and
# the NFIT comparison.

passed=0
failed=0
failures=()

# check NAME CMD...: CMD passes by exiting 0; what it prints is shown under the result (a check
# that only reports prints its findings and passes).
check() {
  local name="$1" output rc=0
  shift
  output="$("$@" 2>&1)" || rc=$?
  if [ "$rc" = 0 ]; then
    passed=$((passed + 1))
    echo "ok    $name"
    if [ -n "$output" ]; then sed "s/^/      /" <<<"$output"; fi
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "FAIL  $name"
    sed "s/^/      /" <<<"$output"
  fi
}

# A backing's label area: its last LABEL_SIZE bytes (QEMU's layout of a memory-backend-file
# under an nvdimm with label-size).
label_area() {
  local backing="$1" label_size="$2" out="$3"
  tail -c "$label_size" "$backing" > "$out"
}

# same_bytes WHAT_A A WHAT_B B: passes when the files are identical; otherwise lists the first
# differing byte ranges (offsets in hex).
same_bytes() {
  local what_a="$1" a="$2" what_b="$3" b="$4"
  if cmp -s "$a" "$b"; then return 0; fi
  local size_a size_b
  size_a=$(stat -c %s "$a") size_b=$(stat -c %s "$b")
  echo "$what_a ($size_a bytes) and $what_b ($size_b bytes) differ:"
  cmp -l "$a" "$b" 2>/dev/null | byte_ranges | head -n 12 |
    while read -r start last rest; do printf '  0x%x..0x%x: %s\n' "$start" "$last" "$rest"; done
  local n
  n=$(cmp -l "$a" "$b" 2>/dev/null | wc -l)
  echo "  ($n bytes differ in all)"
  return 1
}

# cmp -l lines (1-based offset, octal byte a, octal byte b) -> runs of up to 16 consecutive
# differing bytes: "START LAST a-bytes | b-bytes" (0-based offsets, bytes in hex).
byte_ranges() {
  awk '
    function flush() {
      if (start != "") printf "%d %d %s | %s\n", start, last, ha, hb
    }
    {
      off = $1 - 1
      a = sprintf("%02x", oct($2)); b = sprintf("%02x", oct($3))
      if (start != "" && off == last + 1 && count < 16) {
        last = off; ha = ha " " a; hb = hb " " b; count++
      } else {
        flush(); start = off; last = off; ha = a; hb = b; count = 1
      }
    }
    END { flush() }
    function oct(s,   v, i) { v = 0; for (i = 1; i <= length(s); i++) v = v * 8 + substr(s, i, 1); return v }
  '
}

# NFIT structure types (ACPI 6.x 5.2.25), for naming where two NFITs differ.
nfit_type_name() {
  case "$1" in
    0) echo "SPA range" ;; 1) echo "memory device to SPA" ;; 2) echo "interleave" ;;
    3) echo "SMBIOS" ;; 4) echo "control region" ;; 5) echo "block data window" ;;
    6) echo "flush hint" ;; 7) echo "platform capabilities" ;; *) echo "type $1" ;;
  esac
}

# The NFIT's structures from byte 40 (36-byte header, 4 reserved): "OFFSET TYPE LENGTH" lines.
nfit_structures() {
  local f="$1" size off type len
  size=$(stat -c %s "$f")
  off=40
  while [ $((off + 4)) -le "$size" ]; do
    type=$(od -An -tu2 -j "$off" -N2 "$f" | tr -d ' ')
    len=$(od -An -tu2 -j $((off + 2)) -N2 "$f" | tr -d ' ')
    echo "$off $type $len"
    [ "$len" -gt 0 ] || break
    off=$((off + len))
  done
}

# nfit_structures_hex FILE: each structure as one line of hex, in table order.
nfit_structures_hex() {
  local f="$1" off type len
  nfit_structures "$f" | while read -r off type len; do
    od -An -v -tx1 -j "$off" -N "$len" "$f" | tr -d ' \n'
    echo
  done
}

# unhex HEX: the bytes a hex string spells.
unhex() {
  printf '%b' "$(sed 's/../\\x&/g' <<<"$1")"
}

# le HEX BYTE N: the N-byte little-endian number at byte BYTE of a hex string.
le() {
  local hex="$1" at="$2" n="$3" v="" i
  for ((i = n - 1; i >= 0; i--)); do v+="${hex:$(((at + i) * 2)):2}"; done
  echo $((16#$v))
}

# nfit_structure_name HEX: a structure by type and the key that tells it from its siblings.
nfit_structure_name() {
  local hex="$1" type
  type=$(le "$hex" 0 2)
  case "$type" in
    0 | 4) echo "$(nfit_type_name "$type") index $(le "$hex" 4 2)" ;;
    1 | 6) echo "$(nfit_type_name "$type") handle $(le "$hex" 4 4)" ;;
    *) nfit_type_name "$type" ;;
  esac
}

# nfit_diff GUEST VPMEM: how two NFITs differ from byte 36 on (the 4 reserved bytes, then the
# structures). Prints nothing when they are equal. Structures are paired by type and index or
# handle, so a difference in order is told apart from a difference in content: QEMU lists its
# NVDIMMs in the order of its device tree (a hash of the device ids), not by slot.
nfit_diff() {
  local guest="$1" vpmem="$2"
  if cmp -s <(tail -c +37 "$guest") <(tail -c +37 "$vpmem"); then return 0; fi
  echo "guest NFIT $(stat -c %s "$guest") bytes, vpmem's $(stat -c %s "$vpmem") bytes; from byte 36:"
  cmp -s <(tail -c +37 "$guest" | head -c 4) <(tail -c +37 "$vpmem" | head -c 4) ||
    echo "  the reserved bytes 36..39 differ"
  local -a gs vs gsorted vsorted
  mapfile -t gs < <(nfit_structures_hex "$guest")
  mapfile -t vs < <(nfit_structures_hex "$vpmem")
  # Sorting by the bytes orders by type, length, then index or handle: the same key in both.
  mapfile -t gsorted < <(printf '%s\n' "${gs[@]}" | LC_ALL=C sort)
  mapfile -t vsorted < <(printf '%s\n' "${vs[@]}" | LC_ALL=C sort)
  if [ "${gs[*]}" != "${vs[*]}" ] && [ "${gsorted[*]}" = "${vsorted[*]}" ]; then
    echo "  the same ${#gs[@]} structures in another order; the guest's first: $(nfit_structure_name "${gs[0]}"), vpmem's: $(nfit_structure_name "${vs[0]}")"
    return 0
  fi
  local order_differs=0 i
  for ((i = 0; i < ${#gs[@]} && i < ${#vs[@]}; i++)); do
    [ "$(nfit_structure_name "${gs[i]}")" = "$(nfit_structure_name "${vs[i]}")" ] || order_differs=1
  done
  [ "$order_differs" = 0 ] || echo "  the structures come in another order (the guest's first: $(nfit_structure_name "${gs[0]}"), vpmem's: $(nfit_structure_name "${vs[0]}")); paired by type and index or handle:"
  [ "${#gs[@]}" = "${#vs[@]}" ] || echo "  the guest has ${#gs[@]} structures, vpmem's ${#vs[@]}"
  for ((i = 0; i < ${#gsorted[@]} && i < ${#vsorted[@]}; i++)); do
    [ "${gsorted[i]}" != "${vsorted[i]}" ] || continue
    local name
    name="$(nfit_structure_name "${gsorted[i]}")"
    [ "$name" = "$(nfit_structure_name "${vsorted[i]}")" ] || name="$name (vpmem: $(nfit_structure_name "${vsorted[i]}"))"
    cmp -l <(unhex "${gsorted[i]}") <(unhex "${vsorted[i]}") 2>/dev/null | byte_ranges |
      while read -r start last rest; do
        printf '  %s, +0x%x..0x%x: guest | vpmem: %s\n' "$name" "$start" "$last" "$rest"
      done
  done
}

# nfit_in_guest_order GUEST VPMEM: whether the guest's NFIT equals vpmem's byte for byte from
# byte 36 once vpmem's per-NVDIMM structures (its SPA range, then the structures up to the next
# SPA range) are put in the order the guest lists the SPA ranges. QEMU lists NVDIMMs in its own
# device-tree order, not by slot; Linux does not depend on the order. Prints which it was.
nfit_in_guest_order() {
  local guest="$1" vpmem="$2" line group="" i
  cmp -s <(tail -c +37 "$guest" | head -c 4) <(tail -c +37 "$vpmem" | head -c 4) || return 1
  local -a gs vs
  mapfile -t gs < <(nfit_structures_hex "$guest")
  mapfile -t vs < <(nfit_structures_hex "$vpmem")
  declare -A groups=()
  local tail_part="" key=""
  for line in "${vs[@]}"; do
    case "${line:0:4}" in
      0000) key="$line"; groups[$key]="$line" ;;
      0700) tail_part+="$line" ;;
      *) [ -n "$key" ] && groups[$key]+="$line" || tail_part+="$line" ;;
    esac
  done
  local reordered=""
  for line in "${gs[@]}"; do
    [ "${line:0:4}" = 0000 ] || continue
    [ -n "${groups[$line]+x}" ] || return 1
    reordered+="${groups[$line]}"
  done
  reordered+="$tail_part"
  [ "$(printf '%s' "${gs[@]}")" = "$reordered" ] || return 1
  if [ "$(printf '%s' "${vs[@]}")" = "$reordered" ]; then
    echo "byte for byte"
  else
    echo "byte for byte with vpmem's NVDIMMs in the guest's order"
  fi
}
