#!/usr/bin/env bash
# make demo: a throwaway MariaDB (row binlog) and Redis on free loopback ports, the shop
# schema with a live workload, Tidemark's speed layer and reporting API over them, and
# fresh view answers printed every few seconds. Ctrl-C stops everything this script
# started (by pid), and nothing else.
source "$(dirname "$0")/lib.sh"
root=$(cd "$(dirname "$0")/.." && pwd)
dir="$root/.stack/demo"
rm -rf "$dir"
mkdir -p "$dir"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
maria_port=$(free_port)
redis_port=$(free_port)
api_port=${TIDEMARK_DEMO_PORT:-$(free_port)}
metrics_port=$(free_port)

cleanup() {
	bash "$root/scripts/redis.sh" stop "$dir/redis" >/dev/null 2>&1 || true
	bash "$root/scripts/mariadb.sh" stop "$dir/mariadb" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM

echo "demo: starting MariaDB on 127.0.0.1:$maria_port and Redis on 127.0.0.1:$redis_port (data in $dir)"
bash "$root/scripts/mariadb.sh" start "$dir/mariadb" "$maria_port"
bash "$root/scripts/redis.sh" start "$dir/redis" "$redis_port"

cat >"$dir/tidemark.yaml" <<YAML
sources:
  - name: shop
    flavor: mariadb
    host: 127.0.0.1
    port: $maria_port
    user: root
    server_id: 4242
    databases: [shop]
    heartbeat: shop.heartbeat
    heartbeat_interval: 1s
redis:
  addr: 127.0.0.1:$redis_port
lake:
  root: file://$dir/lake
api:
  listen: 127.0.0.1:$api_port
metrics:
  listen: 127.0.0.1:$metrics_port
speed:
  segment_seconds: 5
batch:
  partitions:
    shop.orders: ["month(created_at)"]
views:
  - name: revenue_by_day
    from: shop.orders
    where: "status <> 'cancelled' AND amount > 0"
    group_by: ["day(created_at) AS day", "status"]
    measures: ["count() AS orders", "sum(amount) AS revenue", "avg(amount) AS avg_amount"]
  - name: orders_by_customer
    from: shop.orders
    group_by: [customer_id]
    measures: ["count() AS orders", "sum(amount) AS revenue", "sum(qty) AS items"]
  - name: customers
    from: shop.customers
    mirror: true
YAML
echo "demo: config in $dir/tidemark.yaml"
"$root/bin/tidemark" demo -c "$dir/tidemark.yaml" ${TIDEMARK_DEMO_ARGS:-}
