# shellcheck shell=bash disable=SC2034  # SCENARIO_* are read by bench/run plan, which sources this
# direct: GET /bench answered by the gateway itself (a direct route, bench/conf/direct.yaml);
# NGINX `return 200` with the same body beside it.
SCENARIO_TITLE="direct response (GET /bench, 30 B body)"
SCENARIO_PATH=$PATH_BENCH
SCENARIO_HEADER=
SCENARIO_NGINX="NGINX return 200"

scenario_start() {
  start_ringgate "${PLAN_CONF:-$CONF/direct.yaml}"
}
scenario_nginx() {
  start_nginx "$CONF/nginx.conf.in" "$TMP/nginx" "$NGX_PORT" "$SERVER_CPU" || exit 1
}
