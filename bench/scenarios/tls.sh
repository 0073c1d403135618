# shellcheck shell=bash disable=SC2034  # SCENARIO_* are read by bench/run plan, which sources this
# tls: HTTPS keep-alive, GET /bench answered from config over TLS 1.3 with an ECDSA P-256
# certificate (bench/conf/tls.yaml.in, the certificates made per run); NGINX over HTTPS with the
# same certificate and body beside it (bench/conf/nginx_tls.conf.in). bench/load resumes the
# first connection's session on every later one.
SCENARIO_TITLE="HTTPS direct response (TLS 1.3, ECDSA P-256, GET /bench)"
SCENARIO_SCHEME=https
SCENARIO_PATH=$PATH_BENCH
SCENARIO_HEADER=
SCENARIO_NGINX="NGINX over HTTPS, return 200"

scenario_start() {
  make_bench_certs "$TMP/certs"
  start_nginx "$CONF/nginx_origin.conf.in" "$TMP/origin" "$ORIGIN_PORT" "$CLIENT_CPU" || exit 1
  render_conf "$CONF/tls.yaml.in" "$TMP/tls.yaml" "CERTS=$TMP/certs"
  start_ringgate "${PLAN_CONF:-$TMP/tls.yaml}"
}
scenario_nginx() {
  start_nginx "$CONF/nginx_tls.conf.in" "$TMP/nginx" "$NGX_PORT" "$SERVER_CPU" \
    "CERTS=$TMP/certs" "RSA_PORT=$NGX_RSA_PORT" "UPSTREAM=$ORIGIN_PORT" || exit 1
}
