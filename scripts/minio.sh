#!/usr/bin/env bash
# A throwaway MinIO (S3 API) on one local drive.
#
#   minio.sh start DIR PORT   S3 API on 127.0.0.1:PORT, console on PORT+1, objects in
#                             DIR/data, pid in DIR/pid, log in DIR/log
#   minio.sh stop DIR         SIGTERM to exactly the pid in DIR/pid, wait for exit
#   minio.sh kill DIR         SIGKILL of that pid
#
# Credentials come from MINIO_ROOT_USER / MINIO_ROOT_PASSWORD (default tidemark /
# tidemark-secret). The bucket MINIO_BUCKET (default "lake"; empty for none) is created
# with the aws CLI when it is installed; without it the caller creates the bucket (the Go
# helper internal/stack does so with the SDK).
source "$(dirname "$0")/lib.sh"

export MINIO_ROOT_USER=${MINIO_ROOT_USER:-tidemark}
export MINIO_ROOT_PASSWORD=${MINIO_ROOT_PASSWORD:-tidemark-secret}
MINIO_BUCKET=${MINIO_BUCKET-lake}

live() {
	curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/minio/health/live"
}

make_bucket() {
	local port=$1 out
	command -v aws >/dev/null 2>&1 || return 0
	if ! out=$(AWS_ACCESS_KEY_ID=$MINIO_ROOT_USER AWS_SECRET_ACCESS_KEY=$MINIO_ROOT_PASSWORD \
		AWS_DEFAULT_REGION=us-east-1 aws --endpoint-url "http://127.0.0.1:$port" \
		s3 mb "s3://$MINIO_BUCKET" 2>&1); then
		case "$out" in
		*BucketAlreadyOwnedByYou* | *BucketAlreadyExists*) ;;
		*) echo "$out" >&2; die "creating bucket $MINIO_BUCKET failed" ;;
		esac
	fi
}

start() {
	local dir=$1 port=$2
	need minio curl
	mkdir -p "$dir/data"
	dir=$(cd "$dir" && pwd)
	refuse_running "$dir"
	check_port "$port"
	check_port $((port + 1))
	rm -f "$dir/pid"
	echo "$port" >"$dir/port"
	MINIO_BROWSER=off MINIO_UPDATE=off spawn "$dir/pid" "$dir/log" minio server --quiet \
		--address "127.0.0.1:$port" --console-address "127.0.0.1:$((port + 1))" "$dir/data"
	wait_until "${MINIO_START_TIMEOUT:-60}" "starting MinIO on port $port" "$dir/log" "$dir" \
		live "$port"
	[ -z "$MINIO_BUCKET" ] || make_bucket "$port"
}

case "${1:-}" in
start) [ $# = 3 ] || usage; start "$2" "$3" ;;
stop) [ $# = 2 ] || usage; stop_pids "$2" TERM 30 ;;
kill) [ $# = 2 ] || usage; kill_pids "$2" ;;
*) usage ;;
esac
