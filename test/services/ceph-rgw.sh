#!/usr/bin/env bash
# ceph-rgw.sh — a throwaway single-node Ceph cluster with a RADOS Gateway (a real S3 server) on 127.0.0.1,
# for the S3 backend's integration tests. Adapted from the workplace reference /work/shared/services/ceph-rgw.sh
# (see its README for the measurements behind the settings below).
#
#   ceph-rgw.sh start DIR   bring up mon.a, osd.0 (memstore) and radosgw under DIR (≤ 80 characters, made
#                           empty or absent); prints exactly three lines on stdout:
#                             AWS_ACCESS_KEY_ID=...  AWS_SECRET_ACCESS_KEY=...  S3_ENDPOINT=http://127.0.0.1:PORT
#                           progress and errors go to stderr. On failure the daemons are killed, DIR is kept.
#   ceph-rgw.sh stop DIR    SIGKILL the daemons started from DIR (by pid file and by their -c DIR/ceph.conf
#                           argument) and remove DIR. A missing DIR is not an error.
#
# No ceph-mgr, no cephx (auth none), pool size 1, msgr2 only; everything (config, stores, logs, pid files,
# admin sockets) lives in DIR and nothing binds anything but 127.0.0.1. Needs root-free ports 20000-59999 and
# the Debian packages ceph-mon ceph-osd radosgw ceph-common (+ curl, uuid-runtime, iproute2).
set -euo pipefail

log() { printf '[ceph-rgw] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -eq 2 && -n $2 ]] || { sed -n '2,16p' "$0" >&2; exit 2; }
CMD=$1
DIR=$(realpath -m -- "$2")
case $DIR in /|/tmp|/root|/home|/var|/usr|/etc) die "refusing DIR=$DIR" ;; esac
((${#DIR} <= 80)) || die "DIR must be at most 80 characters (unix socket paths are limited): $DIR"
CONF=$DIR/ceph.conf
MARKER=$DIR/.ceph-rgw
TIMEOUT=${CEPH_RGW_TIMEOUT:-120}

ceph_() { timeout 30 ceph -c "$CONF" --connect-timeout 10 "$@"; }

# Live processes started with this DIR's config (arguments in /proc/PID/cmdline are NUL-separated).
our_pids() {
  local f p
  for f in $(grep -lszxF -- "$CONF" /proc/[0-9]*/cmdline); do
    p=${f#/proc/}; p=${p%/cmdline}
    [[ $p == "$$" || $p == "$BASHPID" ]] || echo "$p"
  done
  return 0
}

alive() { local st; st=$(cat /proc/"$1"/stat 2>/dev/null) || return 1; st=${st##*) }; [[ ${st%% *} != Z ]]; }

# SIGKILL, not SIGTERM: the data is thrown away anyway, and radosgw hangs on shutdown once the OSD is gone.
kill_all() {
  local pids p i busy
  mapfile -t pids < <(our_pids)
  ((${#pids[@]})) || return 0
  kill -KILL "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    busy=0
    for p in "${pids[@]}"; do alive "$p" && busy=1; done
    ((busy)) || return 0
    sleep 0.1
  done
  log "warning: ${pids[*]} still alive after SIGKILL"
}

free_port() {
  local used p i
  used=" $(ss -Htan | awk '{n = split($4, a, ":"); printf "%s ", a[n]}') ${*:-} "
  for ((i = 0; i < 500; i++)); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    [[ $used == *" $p "* ]] || { echo "$p"; return 0; }
  done
  die "no free port"
}

# until_ready NAME COMMAND...: poll every 0.2 s; give up after TIMEOUT or when daemon NAME's process is gone.
until_ready() {
  local name=$1 t0=$SECONDS pid; shift
  until "$@" >/dev/null 2>&1; do
    pid=$(cat "$DIR/run/$name.pid" 2>/dev/null || true)
    if [[ -n $pid ]] && ! alive "$pid"; then log "$name exited during startup"; return 1; fi
    if [[ -z $pid ]] && ((SECONDS - t0 > 15)); then log "$name wrote no pid file"; return 1; fi
    ((SECONDS - t0 < TIMEOUT)) || { log "timed out waiting for $name"; return 1; }
    sleep 0.2
  done
}

rgw_answers() { curl -s -o /dev/null --max-time 2 "$S3_ENDPOINT/"; }
osd_up() { ceph_ osd stat -f json | grep -q '"num_up_osds":1'; }

failed() {
  local f
  log "start failed; the last log lines from $DIR/log:"
  for f in "$DIR"/log/*; do [[ -s $f ]] && { log "--- $f"; tail -n 15 "$f" >&2; }; done
  kill_all
}

start() {
  local b
  for b in ceph ceph-mon ceph-osd radosgw radosgw-admin ceph-authtool monmaptool curl ss uuidgen; do
    command -v "$b" >/dev/null || die "$b not found"
  done
  if [[ -e $DIR ]]; then
    [[ -f $MARKER || -z $(ls -A "$DIR") ]] || die "$DIR is not empty and was not made by this script"
    kill_all
    rm -rf -- "$DIR"
  fi
  mkdir -p "$DIR"/{run,log,mon.a,osd.0,rgw.a}
  : >"$MARKER"
  trap '(($?)) && failed' EXIT

  local t0=$SECONDS mon_port rgw_port fsid osd_uuid id ak sk
  mon_port=$(free_port)
  rgw_port=$(free_port "$mon_port")
  fsid=$(uuidgen)
  ak=$(tr -dc 'A-Z0-9' </dev/urandom | head -c 20 || true)
  sk=$(tr -dc 'A-Za-z0-9' </dev/urandom | head -c 40 || true)
  S3_ENDPOINT=http://127.0.0.1:$rgw_port

  # memstore (default): objects in the OSD's RAM, fast to start, for tests. bluestore: a sparse block file in
  # DIR/osd.0, for the benchmark, whose GiBs would not fit in RAM twice over.
  case ${CEPH_RGW_STORE:-memstore} in
    memstore) store_conf="osd objectstore = memstore
memstore device bytes = $((${CEPH_RGW_STORE_GB:-8} << 30))" ;;
    bluestore) store_conf="osd objectstore = bluestore
bluestore block create = true
bluestore block size = $((${CEPH_RGW_STORE_GB:-8} << 30))
bluestore fsck on mkfs = false
bluestore fsck on mount = false" ;;
    *) die "CEPH_RGW_STORE must be memstore or bluestore" ;;
  esac
  cat >"$CONF" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
ms bind msgr2 = true
auth cluster required = none
auth service required = none
auth client required = none
keyring = $DIR/keyring
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
crash dir = $DIR/log
admin socket =
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
# each pool creation waits for a Paxos proposal: the default 1 s makes startup several times slower
paxos propose interval = 0.05

[mon]
mon data = $DIR/mon.\$id
mon cluster log file = $DIR/log/cluster.log
admin socket = $DIR/run/\$name.asok

[osd]
osd data = $DIR/osd.\$id
admin socket = $DIR/run/\$name.asok
$store_conf

[client.rgw.a]
# radosgw asks for a secure mon connection by default, which auth none cannot give
ms mon client mode = crc
client mount timeout = 60
rgw data = $DIR/rgw.a
# without tcp_nodelay small requests stall ~40 ms (Nagle + delayed ACK)
rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw thread pool size = 64
rgw enable usage log = false
# free deleted objects' RAM within minutes, not the default 2 h
rgw gc obj min wait = 60
rgw gc processor period = 60
admin socket = $DIR/run/\$name.asok
CONF

  ceph-authtool --create-keyring --gen-key --name=mon. --cap mon 'allow *' "$DIR/keyring" >/dev/null
  ceph-authtool --gen-key --name=client.admin --cap mon 'allow *' --cap osd 'allow *' "$DIR/keyring" >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$DIR/monmap" >/dev/null
  ceph-mon -c "$CONF" -i a --mkfs --monmap "$DIR/monmap" --keyring "$DIR/keyring" >"$DIR/log/mon-mkfs.out" 2>&1
  ceph-mon -c "$CONF" -i a >"$DIR/log/mon.a.out" 2>&1
  until_ready mon.a ceph_ mon stat

  osd_uuid=$(uuidgen)
  id=$(ceph_ osd new "$osd_uuid")
  [[ $id == 0 ]] || die "unexpected OSD id '$id'"
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$DIR/log/osd-mkfs.out" 2>&1
  ceph-osd -c "$CONF" -i 0 >"$DIR/log/osd.0.out" 2>&1
  until_ready osd.0 osd_up

  radosgw -c "$CONF" -n client.rgw.a >"$DIR/log/rgw.a.out" 2>&1
  until_ready client.rgw.a rgw_answers
  timeout 60 radosgw-admin -c "$CONF" user create --uid=test --display-name=test \
    --access-key="$ak" --secret-key="$sk" >"$DIR/log/user-create.out" 2>&1
  log "radosgw up on $S3_ENDPOINT in $((SECONDS - t0)) s"
  trap - EXIT
  printf 'AWS_ACCESS_KEY_ID=%s\nAWS_SECRET_ACCESS_KEY=%s\nS3_ENDPOINT=%s\n' "$ak" "$sk" "$S3_ENDPOINT"
}

case $CMD in
  start) start ;;
  stop)
    [[ -e $DIR ]] || exit 0
    [[ -f $MARKER || -z $(ls -A "$DIR") ]] || die "$DIR was not made by this script; not touching it"
    kill_all
    rm -rf -- "$DIR" ;;
  *) die "unknown command $CMD (start or stop)" ;;
esac
