#!/usr/bin/env bash
# Fetch, start, check and stop a single-node KRaft Apache Kafka broker on 127.0.0.1.
#
#   deploy/kafka/kafkactl.sh fetch|start|stop|status|restart
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1), KAFKA_DATA_DIR
# (<repo>/.run/kafka-<port>), KAFKA_HEAP_OPTS (-Xms256m -Xmx1g), KAFKA_START_TIMEOUT (90 s).
# Idempotent: start on a running broker and stop on a stopped one succeed and say so.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
data_dir="${KAFKA_DATA_DIR:-$repo/.run/kafka-$port}"
heap="${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
start_timeout="${KAFKA_START_TIMEOUT:-90}"
lib="$here/lib"
pid_file="$data_dir/kafka.pid"
log_file="$data_dir/kafka.log"
config="$data_dir/server.properties"

say() { echo "kafka[$port]: $*"; }
die() { echo "kafka[$port]: error: $*" >&2; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed; $2"
}

running_pid() {
  [[ -f "$pid_file" ]] || return 1
  local pid
  pid="$(cat "$pid_file")"
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

fetch() {
  if [[ -f "$lib/.complete" ]]; then
    return 0
  fi
  need java "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
  need mvn "install Maven (Debian: apt-get install maven)"
  say "resolving the Apache Kafka jars from Maven Central into $lib"
  rm -rf "$lib"
  mvn -q -B -f "$here/pom.xml" package || die "Maven could not resolve the Kafka jars (see above)"
  ls "$lib"/kafka_2.13-*.jar >/dev/null 2>&1 || die "Maven finished but no kafka_2.13 jar is in $lib"
  touch "$lib/.complete"
}

render_config() {
  mkdir -p "$data_dir/logs"
  sed -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" -e "s|@DATA_DIR@|$data_dir|g" \
    "$here/server.properties.template" >"$config"
}

java_cmd() {
  # shellcheck disable=SC2086  # heap options are several words on purpose
  java $heap -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$here/log4j2.properties" \
    -cp "$lib/*" "$@"
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
  if pid="$(running_pid)"; then
    say "already running (pid $pid)"
    python3 "$here/wait_ready.py" --port "$port" --timeout "$start_timeout"
    return 0
  fi
  need java "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
  need python3 "python3 is needed to check that the broker answers"
  fetch
  port_in_use "$port" && die "port $port is taken by another process; set KAFKA_PORT"
  port_in_use "$controller_port" && die "port $controller_port is taken; set KAFKA_CONTROLLER_PORT"
  render_config
  if [[ ! -f "$data_dir/logs/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$config" >>"$log_file" 2>&1 \
      || die "formatting the storage failed; see $log_file"
    say "formatted storage in $data_dir (cluster $cluster_id)"
  fi
  nohup bash -c "exec java $heap -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile='$here/log4j2.properties' -cp '$lib/*' kafka.Kafka '$config'" \
    >>"$log_file" 2>&1 </dev/null &
  echo $! >"$pid_file"
  if ! python3 "$here/wait_ready.py" --port "$port" --timeout "$start_timeout"; then
    tail -n 30 "$log_file" >&2 || true
    stop
    die "the broker did not become ready within ${start_timeout}s; log: $log_file"
  fi
  say "ready on 127.0.0.1:$port (pid $(cat "$pid_file"), log $log_file)"
}

stop() {
  local pid
  if ! pid="$(running_pid)"; then
    rm -f "$pid_file"
    say "not running"
    return 0
  fi
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "did not stop in 30 s; killing pid $pid"
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
  say "stopped"
}

status() {
  if pid="$(running_pid)"; then
    if python3 "$here/wait_ready.py" --port "$port" --timeout 3 2>/dev/null; then
      say "running and answering (pid $pid)"
    else
      say "process $pid is up but the broker does not answer yet"
      return 1
    fi
  else
    say "not running"
    return 3
  fi
}

case "${1:-}" in
  fetch) fetch ;;
  start) start ;;
  stop) stop ;;
  status) status ;;
  restart) stop; start ;;
  *) echo "usage: $0 fetch|start|stop|status|restart" >&2; exit 2 ;;
esac
