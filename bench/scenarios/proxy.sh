# shellcheck shell=bash disable=SC2034  # SCENARIO_* are read by bench/run plan, which sources this
# proxy: GET /bench proxied to one NGINX origin (1 KB JSON, bench/conf/proxy.yaml); NGINX
# proxy_pass with keep-alive upstreams beside it. The origin runs on the client's CPU.
SCENARIO_TITLE="proxy to one origin (GET /bench, 1 KB JSON)"
SCENARIO_PATH=$PATH_BENCH
SCENARIO_HEADER=
SCENARIO_NGINX="NGINX proxy_pass"

scenario_start() {
  start_nginx "$CONF/nginx_origin.conf.in" "$TMP/origin" "$ORIGIN_PORT" "$CLIENT_CPU" || exit 1
  start_ringgate "${PLAN_CONF:-$CONF/proxy.yaml}"
}
scenario_nginx() {
  start_nginx "$CONF/nginx_proxy.conf.in" "$TMP/nginx" "$NGX_PORT" "$SERVER_CPU" \
    "UPSTREAM=$ORIGIN_PORT" || exit 1
}
