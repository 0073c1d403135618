# shellcheck shell=bash
# Shell functions shared by bench/run and the perf/ scripts (source it; bash only).

# Clock ticks per second for /proc/PID/stat's utime and stime.
CLK_TCK=${CLK_TCK:-$(getconf CLK_TCK)}

# cpu_ticks PID... → "UTIME STIME": clock ticks summed over the processes (a process's stat already
# includes all of its threads). Fields 14 and 15, counted after the ")" that ends the command name.
cpu_ticks() {
  local u=0 s=0 pid line rest f
  for pid in "$@"; do
    line=$(cat "/proc/$pid/stat") || return 1
    rest=${line##*) }
    # rest starts at field 3 (state): utime is field 14 → index 11, stime index 12.
    read -r -a f <<<"$rest"
    u=$((u + f[11]))
    s=$((s + f[12]))
  done
  echo "$u $s"
}

# cpu_ns PID... → the processes' time on a CPU so far, in ns, summed over their threads: the
# scheduler's own count (se.sum_exec_runtime), exact where utime and stime are sampled at the
# tick (a kernel with tick-based CPU accounting, as this one: HZ=250).
cpu_ns() {
  local pid files=()
  for pid in "$@"; do
    files+=(/proc/"$pid"/task/*/sched)
  done
  awk '$1 == "se.sum_exec_runtime" { s += $3 } END { printf "%.0f\n", s * 1e6 }' "${files[@]}" \
    2>/dev/null
}

# user_share PERF_DATA → the fraction of the cpu-clock samples taken in user space ("" when
# there are none): the user/system split of a run, from thousands of samples where the tick
# gives it from a few hundred.
user_share() {
  perf script -i "$1" -F ip 2>/dev/null |
    awk '{ if ($1 ~ /^ffff/) k++; else u++ } END { if (u + k > 0) printf "%.6f\n", u / (u + k) }'
}

# exact_us_per_request NS0 NS1 REQUESTS SHARE → "USER_US SYS_US TOTAL_US" per request: the
# time between two cpu_ns counts, SHARE of it (a fraction) in user space.
exact_us_per_request() {
  awk -v d=$(($2 - $1)) -v n="$3" -v f="$4" 'BEGIN { t = d / 1000 / n;
    printf "%.2f %.2f %.2f\n", t * f, t * (1 - f), t }'
}

# cpu_us_per_request "U0 S0" "U1 S1" REQUESTS → "USER_US SYS_US TOTAL_US" per request.
cpu_us_per_request() {
  local before=$1 after=$2 requests=$3
  awk -v b="$before" -v a="$after" -v n="$requests" -v hz="$CLK_TCK" 'BEGIN {
    split(b, x, " "); split(a, y, " ");
    if (n <= 0) { print "nan nan nan"; exit }
    u = (y[1] - x[1]) * 1e6 / hz / n; s = (y[2] - x[2]) * 1e6 / hz / n;
    printf "%.2f %.2f %.2f\n", u, s, u + s }'
}

# rss_kib PID → VmRSS in KiB.
rss_kib() {
  awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# wrk_summary FILE → "REQUESTS REQ_PER_S P99_US ERRORS P50_US" from `wrk --latency` output.
wrk_summary() {
  awk '
    function us(v) {
      if (v ~ /us$/) return v + 0;
      if (v ~ /ms$/) return (v + 0) * 1000;
      if (v ~ /m$/) return (v + 0) * 60e6;
      if (v ~ /s$/) return (v + 0) * 1e6;
      return v + 0;
    }
    / requests in / { req = $1 }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" && p50 == "" { p50 = us($2) }
    $1 == "99%" && p99 == "" { p99 = us($2) }
    /Socket errors:/ { gsub(/,/, ""); err += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { err += $NF }
    END { printf "%d %.0f %.0f %d %.0f\n", req, rps, p99, err, p50 }' "$1"
}

# wait_port PORT [SECONDS] → waits until 127.0.0.1:PORT accepts connections.
wait_port() {
  local port=$1 deadline=$((SECONDS + ${2:-10}))
  while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      echo "port $port did not open" >&2
      return 1
    fi
    sleep 0.1
  done
}

# port_free PORT → true if nothing listens on 127.0.0.1:PORT.
port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# median of the numbers on stdin (one a line).
median() {
  sort -g | awk '{v[NR] = $1} END { if (NR == 0) { print "nan"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# cpu_stat → "BUSY TOTAL" jiffies summed over all CPUs from /proc/stat (busy = user nice system irq
# softirq steal; total adds idle and iowait).
cpu_stat() {
  awk '/^cpu / { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6 }' /proc/stat
}

# children_ticks → sets CHILD_TICKS to the CPU ticks (user+sys) used so far by this shell's
# waited-for children. Call it directly, not in $(...): `times` must run in this very shell.
children_ticks() {
  local f
  f=$(mktemp)
  times >"$f"
  # shellcheck disable=SC2034  # read by the caller
  CHILD_TICKS=$(awk -v hz="$CLK_TCK" 'NR == 2 {
    t = 0
    for (i = 1; i <= 2; i++) { split($i, p, "m"); t += p[1] * 60 + p[2] }
    printf "%d\n", t * hz + 0.5 }' "$f")
  rm -f "$f"
}

# --- background processes -----------------------------------------------------------------------
# spawn and start_nginx remember what they start in BG_PIDS; stop_all (from an EXIT trap) stops it.
BG_PIDS=()

# spawn LOG CPU CMD [ARGS...] → runs CMD in the background, pinned to CPU by taskset (CPU "" = not
# pinned), stdout and stderr to LOG; sets SPAWNED to its PID (taskset execs, so it is CMD's own).
# Call it directly, not in $(...).
spawn() {
  local log=$1 cpu=$2
  shift 2
  if [[ -n $cpu ]]; then
    taskset -c "$cpu" "$@" >"$log" 2>&1 &
  else
    "$@" >"$log" 2>&1 &
  fi
  SPAWNED=$!
  BG_PIDS+=("$SPAWNED")
}

# stop_pid PID → SIGTERM, up to 5 s for it to exit, then SIGKILL; reaps it.
stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# stop_all → stops every process spawned so far, newest first.
stop_all() {
  local i
  for ((i = ${#BG_PIDS[@]} - 1; i >= 0; i--)); do
    stop_pid "${BG_PIDS[i]}"
  done
  BG_PIDS=()
}

# The NGINX peers of the bench configs, at the ports those configs name.
ORIGIN_PORT=18090    # bench/conf/proxy.yaml's origin
CATALOG_PORT=18091   # bench/conf/aggregate.yaml's three backends (one NGINX, three servers)
INVENTORY_PORT=18092
REVIEWS_PORT=18093
# The io_uring floor's listener (perf/io_uring_floor.cc) beside ringgate's.
FLOOR_PORT=${FLOOR_PORT:-18086}

# start_peers KIND DIR CPU → the NGINX peers a bench config of KIND talks to: for proxy the origin
# (ORIGIN_PORT), for aggregate the three backends (CATALOG_PORT, INVENTORY_PORT, REVIEWS_PORT),
# pinned to CPU ("" for none), their files under DIR; nothing for another KIND. NGINX_MASTER and
# NGINX_WORKER are theirs after it. Returns 1 (logs on stderr) if they did not come up.
start_peers() {
  local kind=$1 dir=$2 cpu=$3 conf
  conf=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/conf
  case $kind in
    proxy) start_nginx "$conf/nginx_origin.conf.in" "$dir/origin" "$ORIGIN_PORT" "$cpu" ;;
    aggregate)
      start_nginx "$conf/nginx_backends.conf.in" "$dir/backends" "$CATALOG_PORT" "$cpu" \
        "INVENTORY_PORT=$INVENTORY_PORT" "REVIEWS_PORT=$REVIEWS_PORT" &&
        wait_port "$INVENTORY_PORT" && wait_port "$REVIEWS_PORT"
      ;;
  esac
}

# render_conf TEMPLATE OUT [NAME=VALUE...] → OUT is TEMPLATE with each @NAME@ replaced by VALUE
# (values must not contain '|').
render_conf() {
  local template=$1 out=$2 kv
  shift 2
  local args=()
  for kv in "$@"; do
    args+=(-e "s|@${kv%%=*}@|${kv#*=}|g")
  done
  sed "${args[@]}" "$template" >"$out"
}

# start_nginx TEMPLATE DIR PORT CPU [NAME=VALUE...] → NGINX (master and one worker) on a
# bench/conf/nginx*.conf.in template with @DIR@, @PORT@ and each @NAME@ filled in, pinned to CPU,
# its files and logs in DIR; returns once PORT accepts connections and the worker exists. Sets
# NGINX_MASTER and NGINX_WORKER; returns 1 (logs on stderr) if it did not come up.
start_nginx() {
  local template=$1 dir=$2 port=$3 cpu=$4
  shift 4
  port_free "$port" || { echo "port $port is in use" >&2; return 1; }
  mkdir -p "$dir"
  render_conf "$template" "$dir/nginx.conf" "DIR=$dir" "PORT=$port" "$@"
  spawn "$dir/stdout.log" "$cpu" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
  NGINX_MASTER=$SPAWNED
  NGINX_WORKER=
  wait_port "$port" || { cat "$dir/error.log" "$dir/stdout.log" >&2; return 1; }
  local i
  for ((i = 0; i < 50; i++)); do
    NGINX_WORKER=$(pgrep -P "$NGINX_MASTER" | head -1 || true)
    [[ -n $NGINX_WORKER ]] && return 0
    sleep 0.1
  done
  echo "nginx on port $port has no worker" >&2
  return 1
}
