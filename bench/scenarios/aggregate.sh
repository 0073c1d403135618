# shellcheck shell=bash disable=SC2034  # SCENARIO_* are read by bench/run plan, which sources this
# aggregate: the product-details page of bench/conf/aggregate.yaml, three backend calls at once
# merged into one JSON object (the backends: one NGINX with three servers, on the client's CPU).
# NGINX has no way to merge responses: no comparison row.
SCENARIO_TITLE="3-backend aggregation (GET /bench/products/$PRODUCT_ID)"
SCENARIO_PATH=/bench/products/$PRODUCT_ID
SCENARIO_HEADER=
SCENARIO_NGINX=  # NGINX cannot merge JSON from several backends

scenario_start() {
  start_nginx "$CONF/nginx_backends.conf.in" "$TMP/backends" "$CATALOG_PORT" "$CLIENT_CPU" \
    "INVENTORY_PORT=$INVENTORY_PORT" "REVIEWS_PORT=$REVIEWS_PORT" || exit 1
  wait_port "$INVENTORY_PORT" && wait_port "$REVIEWS_PORT" || exit 1
  start_ringgate "${PLAN_CONF:-$CONF/aggregate.yaml}"
}
