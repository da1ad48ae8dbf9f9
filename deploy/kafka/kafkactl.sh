#!/usr/bin/env bash
# Fetch, start, check and stop a single-node KRaft Apache Kafka broker on 127.0.0.1.
#
#   deploy/kafka/kafkactl.sh fetch|start|stop|status|restart
#
# Environment: KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1), KAFKA_DATA_DIR
# (<repo>/.run/kafka-<port>), KAFKA_HEAP_OPTS (-Xms256m -Xmx1g), KAFKA_START_TIMEOUT (90 s).
# Idempotent: start on a running broker and stop on a stopped one succeed and say so.
#
# Secured mode, KAFKA_SECURE=1: SASL_SSL with SCRAM-SHA-512 on KAFKA_PORT and TLS only on KAFKA_SSL_PORT
# (KAFKA_PORT+2), no plaintext listener for clients. At the first start the script makes a CA and a broker
# certificate for 127.0.0.1/localhost (openssl, keytool) in $KAFKA_DATA_DIR/tls, and the SCRAM user
# KAFKA_SASL_USER (lytewatch) with KAFKA_SASL_PASSWORD (random if unset, kept in tls/sasl-password) at
# storage format. Clients trust tls/ca.crt (LYTEWATCH_BROKER_SSL_CAFILE).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
port="${KAFKA_PORT:-9092}"
controller_port="${KAFKA_CONTROLLER_PORT:-$((port + 1))}"
secure="${KAFKA_SECURE:-0}"
ssl_port="${KAFKA_SSL_PORT:-$((port + 2))}"
sasl_user="${KAFKA_SASL_USER:-lytewatch}"
data_dir="${KAFKA_DATA_DIR:-$repo/.run/kafka-$port}"
heap="${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}"
start_timeout="${KAFKA_START_TIMEOUT:-90}"
lib="$here/lib"
pid_file="$data_dir/kafka.pid"
log_file="$data_dir/kafka.log"
config="$data_dir/server.properties"
tls="$data_dir/tls"

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

secret() { openssl rand -hex 24; }

make_tls() {
  [[ -f "$tls/broker.p12" ]] && return 0
  need openssl "install OpenSSL (Debian: apt-get install openssl)"
  need keytool "keytool comes with the Java runtime (Debian: apt-get install openjdk-17-jre-headless)"
  mkdir -p "$tls"
  chmod 700 "$tls"
  local pw
  pw="$(secret)"
  echo "$pw" >"$tls/store-password"
  [[ -n "${KAFKA_SASL_PASSWORD:-}" ]] && echo "$KAFKA_SASL_PASSWORD" >"$tls/sasl-password"
  [[ -f "$tls/sasl-password" ]] || secret >"$tls/sasl-password"
  chmod 600 "$tls/store-password" "$tls/sasl-password"
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=lytewatch dev CA" \
    -keyout "$tls/ca.key" -out "$tls/ca.crt" 2>/dev/null || die "openssl could not make the CA"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
    -keyout "$tls/broker.key" -out "$tls/broker.csr" 2>/dev/null || die "openssl could not make the key"
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n' >"$tls/san.ext"
  openssl x509 -req -in "$tls/broker.csr" -CA "$tls/ca.crt" -CAkey "$tls/ca.key" -CAcreateserial \
    -days 825 -extfile "$tls/san.ext" -out "$tls/broker.crt" 2>/dev/null || die "openssl could not sign"
  openssl pkcs12 -export -in "$tls/broker.crt" -inkey "$tls/broker.key" -certfile "$tls/ca.crt" \
    -name broker -out "$tls/broker.p12" -passout "pass:$pw" || die "openssl could not make the keystore"
  keytool -importcert -noprompt -alias lytewatch-ca -file "$tls/ca.crt" -keystore "$tls/truststore.p12" \
    -storetype PKCS12 -storepass "$pw" >/dev/null 2>&1 || die "keytool could not make the truststore"
  say "made a CA and a broker certificate in $tls (clients trust $tls/ca.crt)"
}

render_config() {
  mkdir -p "$data_dir/logs"
  if [[ "$secure" == 1 ]]; then
    make_tls
    sed -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" -e "s|@DATA_DIR@|$data_dir|g" \
      -e "s|@SSL_PORT@|$ssl_port|g" -e "s|@TLS_DIR@|$tls|g" -e "s|@STORE_PASSWORD@|$(cat "$tls/store-password")|g" \
      "$here/server-secured.properties.template" >"$config"
    chmod 600 "$config"
  else
    sed -e "s|@PORT@|$port|g" -e "s|@CONTROLLER_PORT@|$controller_port|g" -e "s|@DATA_DIR@|$data_dir|g" \
      "$here/server.properties.template" >"$config"
  fi
}

wait_ready() {
  if [[ "$secure" == 1 ]]; then
    python3 "$here/wait_ready.py" --port "$ssl_port" --cafile "$tls/ca.crt" --timeout "$1"
  else
    python3 "$here/wait_ready.py" --port "$port" --timeout "$1"
  fi
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
    wait_ready "$start_timeout"
    return 0
  fi
  need java "install a Java 17+ runtime (Debian: apt-get install openjdk-17-jre-headless)"
  need python3 "python3 is needed to check that the broker answers"
  fetch
  port_in_use "$port" && die "port $port is taken by another process; set KAFKA_PORT"
  port_in_use "$controller_port" && die "port $controller_port is taken; set KAFKA_CONTROLLER_PORT"
  if [[ "$secure" == 1 ]]; then
    port_in_use "$ssl_port" && die "port $ssl_port is taken; set KAFKA_SSL_PORT"
  fi
  render_config
  if [[ ! -f "$data_dir/logs/meta.properties" ]]; then
    local cluster_id scram=()
    cluster_id="$(java_cmd kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)"
    if [[ "$secure" == 1 ]]; then
      scram=(--add-scram "SCRAM-SHA-512=[name=$sasl_user,password=$(cat "$tls/sasl-password")]")
    fi
    java_cmd kafka.tools.StorageTool format -t "$cluster_id" -c "$config" "${scram[@]}" >>"$log_file" 2>&1 \
      || die "formatting the storage failed; see $log_file"
    say "formatted storage in $data_dir (cluster $cluster_id)"
  fi
  nohup bash -c "exec java $heap -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile='$here/log4j2.properties' -cp '$lib/*' kafka.Kafka '$config'" \
    >>"$log_file" 2>&1 </dev/null &
  echo $! >"$pid_file"
  if ! wait_ready "$start_timeout"; then
    tail -n 30 "$log_file" >&2 || true
    stop
    die "the broker did not become ready within ${start_timeout}s; log: $log_file"
  fi
  if [[ "$secure" == 1 ]]; then
    say "ready: SASL_SSL (SCRAM-SHA-512, user $sasl_user) on 127.0.0.1:$port, SSL on 127.0.0.1:$ssl_port;" \
      "CA $tls/ca.crt, password in $tls/sasl-password (pid $(cat "$pid_file"), log $log_file)"
  else
    say "ready on 127.0.0.1:$port (pid $(cat "$pid_file"), log $log_file)"
  fi
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
    if wait_ready 3 2>/dev/null; then
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
