# shellcheck shell=bash disable=SC2034  # SCENARIO_* are read by bench/run plan, which sources this
# jwt: a proxied route that requires a valid ES256 token (bench/scenarios/jwt.yaml.in, the key
# made per run by build/bench/jwt_token); every request carries the same token, verified once and
# then found in the shard's token cache. NGINX (open source) has no JWT check: its row is plain
# proxy_pass, the work without the check.
SCENARIO_TITLE="JWT-authenticated proxy (ES256, GET /bench)"
SCENARIO_PATH=$PATH_BENCH
SCENARIO_HEADER=
SCENARIO_NGINX="NGINX proxy_pass (no JWT check: open-source NGINX has none)"

scenario_start() {
  if [[ ! -x $BUILD_DIR/bench/jwt_token ]]; then
    cmake --build "$BUILD_DIR" -j2 --target jwt_token >/dev/null
  fi
  "$BUILD_DIR/bench/jwt_token" ES256 "$TMP/jwks-ES256.json" >"$TMP/token-ES256" || exit 1
  SCENARIO_HEADER="Authorization: Bearer $(cat "$TMP/token-ES256")"
  start_nginx "$CONF/nginx_origin.conf.in" "$TMP/origin" "$ORIGIN_PORT" "$CLIENT_CPU" || exit 1
  render_conf "$ROOT/bench/scenarios/jwt.yaml.in" "$TMP/jwt.yaml" "JWKS=$TMP/jwks-ES256.json"
  start_ringgate "${PLAN_CONF:-$TMP/jwt.yaml}"
}
scenario_nginx() {
  start_nginx "$CONF/nginx_proxy.conf.in" "$TMP/nginx" "$NGX_PORT" "$SERVER_CPU" \
    "UPSTREAM=$ORIGIN_PORT" || exit 1
}
