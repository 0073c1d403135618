# shellcheck shell=bash disable=SC2034  # SCENARIO_* are read by bench/run plan, which sources this
# ratelimit: a proxied route rate-limited per client address (bench/scenarios/ratelimit.yaml),
# under a limit the ladder never reaches, so every request pays the check and none is refused.
# NGINX's row is limit_req with the same kind of key (bench/scenarios/nginx_ratelimit.conf.in).
SCENARIO_TITLE="rate-limited proxy (per client address, GET /bench)"
SCENARIO_PATH=$PATH_BENCH
SCENARIO_HEADER=
SCENARIO_NGINX="NGINX limit_req + proxy_pass"

scenario_start() {
  start_nginx "$CONF/nginx_origin.conf.in" "$TMP/origin" "$ORIGIN_PORT" "$CLIENT_CPU" || exit 1
  start_ringgate "${PLAN_CONF:-$ROOT/bench/scenarios/ratelimit.yaml}"
}
scenario_nginx() {
  start_nginx "$ROOT/bench/scenarios/nginx_ratelimit.conf.in" "$TMP/nginx" "$NGX_PORT" \
    "$SERVER_CPU" "UPSTREAM=$ORIGIN_PORT" || exit 1
}
