# shellcheck shell=bash
# Sourced by scripts/nasl and scripts/test.sh. Provisions what nasl needs, idempotently, cached outside
# the clone in $NASL_CACHE (default ~/.cache/nasl):
#   - a Rust toolchain that works even under a fresh HOME,
#   - libtorch: $LIBTORCH if you set it (CPU or CUDA build), else PyTorch $NASL_TORCH_VERSION from PyPI in
#     a virtual environment under $NASL_CACHE (about 2.6 GB, once),
#   - Fashion-MNIST, the built-in default dataset, from Debian's dataset-fashion-mnist package.
# Then exports what cargo and torch-sys need.

NASL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NASL_CACHE="${NASL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nasl}"
NASL_TORCH_VERSION=2.13.0
export NASL_ROOT NASL_CACHE

nasl_log() { printf 'nasl-setup: %s\n' "$*" >&2; }
nasl_die() { printf 'nasl-setup: error: %s\n' "$*" >&2; exit 1; }

nasl_as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        nasl_die "need root for: $* (run it as root, or install it yourself)"; fi
}

nasl_ensure_rust() {
    if cargo --version >/dev/null 2>&1; then return; fi
    # Under a fresh HOME rustup cannot see its toolchains: look for them beside the cargo on PATH.
    local bin home
    bin="$(command -v cargo || true)"
    [ -n "$bin" ] || nasl_die "cargo is not installed; install Rust from https://rustup.rs"
    home="$(cd "$(dirname "$bin")/.." && pwd)"
    for cand in "${RUSTUP_HOME:-}" "$(dirname "$home")/.rustup" /root/.rustup /usr/local/rustup; do
        if [ -n "$cand" ] && [ -d "$cand/toolchains" ]; then
            export RUSTUP_HOME="$cand"
            cargo --version >/dev/null 2>&1 && return
        fi
    done
    nasl_die "cargo is on PATH but has no toolchain (try: rustup default stable)"
}

nasl_ensure_libtorch() {
    if [ -n "${LIBTORCH:-}" ]; then
        [ -d "$LIBTORCH/lib" ] || nasl_die "LIBTORCH=$LIBTORCH has no lib/ folder; unset it to use the cached PyTorch"
        export LD_LIBRARY_PATH="$LIBTORCH/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
        return
    fi
    local venv="$NASL_CACHE/torch-$NASL_TORCH_VERSION"
    local probe="import torch, sys; sys.exit(torch.__version__.split('+')[0] != '$NASL_TORCH_VERSION')"
    # The marker is written last, so an interrupted install is redone rather than trusted.
    if [ ! -f "$venv/.nasl-complete" ] || ! "$venv/bin/python" -c "$probe" >/dev/null 2>&1; then
        command -v python3 >/dev/null || nasl_die "python3 is needed once, to install PyTorch $NASL_TORCH_VERSION"
        mkdir -p "$NASL_CACHE"
        nasl_log "installing PyTorch $NASL_TORCH_VERSION into $venv (once; about 2.6 GB download)"
        rm -rf "$venv"
        python3 -m venv "$venv" || nasl_die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
        "$venv/bin/pip" install --quiet --disable-pip-version-check "torch==$NASL_TORCH_VERSION" ||
            nasl_die "pip could not install torch==$NASL_TORCH_VERSION; or set LIBTORCH to a libtorch folder"
        "$venv/bin/python" -c "$probe" || nasl_die "PyTorch in $venv does not import"
        touch "$venv/.nasl-complete"
    fi
    export VIRTUAL_ENV="$venv"
    export PATH="$venv/bin:$PATH"
    export LIBTORCH_USE_PYTORCH=1
}

nasl_ensure_fashion_mnist() {
    local dir="${NASL_FASHION_MNIST:-/usr/share/datasets/fashion-mnist}"
    if [ -f "$dir/train-images-idx3-ubyte.gz" ] || [ -f "$dir/train-images-idx3-ubyte" ]; then return; fi
    if [ -n "${NASL_FASHION_MNIST:-}" ]; then nasl_die "NASL_FASHION_MNIST=$dir holds no IDX files"; fi
    command -v apt-get >/dev/null || nasl_die "Fashion-MNIST missing and no apt-get: set NASL_FASHION_MNIST to a folder with its IDX files"
    nasl_log "installing Fashion-MNIST (Debian package dataset-fashion-mnist)"
    nasl_apt_install dataset-fashion-mnist
}

# Installs Debian packages, waiting (up to 10 minutes) for another apt/dpkg to release its lock instead
# of failing; refreshes the package lists once if a package is not found.
nasl_apt_install() {
    local apt=(apt-get -o DPkg::Lock::Timeout=600 -y -qq)
    nasl_as_root "${apt[@]}" install "$@" >/dev/null 2>&1 || {
        nasl_as_root apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null 2>&1
        nasl_as_root "${apt[@]}" install "$@" >/dev/null || nasl_die "apt-get install $* failed"
    }
}

# Headless Chromium, for the test that renders a run's report.html (scripts/test.sh calls this; a
# plain `nasl` does not need it).
nasl_ensure_chromium() {
    if command -v chromium >/dev/null || [ -n "${NASL_CHROMIUM:-}" ]; then return; fi
    command -v apt-get >/dev/null || nasl_die "chromium missing and no apt-get: install Chromium, or set NASL_CHROMIUM to its binary"
    nasl_log "installing Chromium (Debian package chromium, for the report test in a headless browser)"
    nasl_apt_install chromium
}

# A single-node Slurm cluster on this machine, for the Slurm executor's tests (scripts/test.sh calls
# this; a plain `nasl` does not need it): installs Debian's slurm-wlm, munge, slurmdbd and
# mariadb-server when missing, writes $NASL_CACHE/slurm/slurm.conf for this host (one partition
# `nasl`, this machine's cores, job accounting through slurmdbd so that `sacct` answers as on a real
# cluster), exports SLURM_CONF, and starts munged, MariaDB, slurmdbd, slurmctld and slurmd unless they
# answer already. nasl_slurm_stop cancels every job and stops the daemons this started.
nasl_slurm_start() {
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null \
        || ! command -v slurmdbd >/dev/null || ! command -v mariadbd >/dev/null; then
        command -v apt-get >/dev/null || nasl_die "Slurm missing and no apt-get: install slurm-wlm, munge, slurmdbd and mariadb-server"
        nasl_log "installing Slurm (Debian packages slurm-wlm, munge, slurmdbd, mariadb-server, for the Slurm executor's tests; about 30 s)"
        nasl_apt_install slurm-wlm munge slurmdbd mariadb-server
    fi
    local dir="$NASL_CACHE/slurm" host cpus mem conf
    host="$(hostname -s)"
    cpus="$(nproc)"
    mem=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 / 2 ))
    mkdir -p "$dir/state" "$dir/spool"
    conf="ClusterName=nasl
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
MinJobAge=600
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=nasl Nodes=$host Default=YES MaxTime=INFINITE State=UP"
    [ "$(cat "$dir/slurm.conf" 2>/dev/null)" = "$conf" ] || printf '%s\n' "$conf" >"$dir/slurm.conf"
    export SLURM_CONF="$dir/slurm.conf"
    if ! munge -n >/dev/null 2>&1; then
        nasl_as_root mkdir -p /run/munge
        nasl_as_root chown munge:munge /run/munge
        nasl_as_root runuser -u munge -- /usr/sbin/munged || nasl_die "munged did not start"
    fi
    nasl_slurmdbd_start "$dir"
    if ! scontrol ping 2>/dev/null | grep -q 'is UP'; then
        nasl_as_root env SLURM_CONF="$SLURM_CONF" slurmctld || nasl_die "slurmctld did not start (see $dir/slurmctld.log)"
    fi
    if ! pgrep -x slurmd >/dev/null; then
        nasl_as_root env SLURM_CONF="$SLURM_CONF" slurmd || nasl_die "slurmd did not start (see $dir/slurmd.log)"
    fi
    local i
    for i in $(seq 60); do
        if sinfo -h -o %T 2>/dev/null | grep -Eq '^(idle|mixed|allocated)'; then return; fi
        [ "$i" = 20 ] && nasl_as_root env SLURM_CONF="$SLURM_CONF" scontrol update nodename="$host" state=resume >/dev/null 2>&1
        sleep 0.5
    done
    nasl_die "the Slurm node did not come up: $(sinfo -h -o '%T %E' 2>&1) (see $dir/slurmctld.log, $dir/slurmd.log)"
}

# Job accounting for the test cluster: a MariaDB server of its own (data in $1/db, TCP on 127.0.0.1:3307,
# run as root like the other daemons here) and slurmdbd in front of it; registers the cluster once.
nasl_slurmdbd_start() {
    local dir="$1" i
    if [ ! -d "$dir/db/mysql" ]; then
        nasl_log "creating the Slurm accounting database (MariaDB, in $dir/db)"
        rm -rf "$dir/db"
        mkdir -p "$dir/db"
        nasl_as_root mariadb-install-db --user=root --datadir="$dir/db" --auth-root-authentication-method=socket \
            >"$dir/db-init.log" 2>&1 || nasl_die "mariadb-install-db failed (see $dir/db-init.log)"
    fi
    if ! nasl_as_root mariadb --socket="$dir/mysql.sock" -e 'select 1' >/dev/null 2>&1; then
        nasl_as_root mariadbd --user=root --datadir="$dir/db" --socket="$dir/mysql.sock" \
            --pid-file="$dir/mysql.pid" --bind-address=127.0.0.1 --port=3307 \
            --log-error="$dir/mysql.log" >/dev/null 2>&1 &
        for i in $(seq 60); do
            nasl_as_root mariadb --socket="$dir/mysql.sock" -e 'select 1' >/dev/null 2>&1 && break
            [ "$i" = 60 ] && nasl_die "MariaDB did not start (see $dir/mysql.log)"
            sleep 0.5
        done
    fi
    nasl_as_root mariadb --socket="$dir/mysql.sock" -e "CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'nasl'; GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';" \
        || nasl_die "cannot create the accounting database's user (see $dir/mysql.log)"
    local conf="AuthType=auth/munge
DbdHost=localhost
DbdPort=6819
SlurmUser=root
PidFile=$dir/slurmdbd.pid
LogFile=$dir/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3307
StorageUser=slurm
StoragePass=nasl
StorageLoc=slurm_acct_db"
    if [ "$(cat "$dir/slurmdbd.conf" 2>/dev/null)" != "$conf" ]; then
        (umask 077; printf '%s\n' "$conf" >"$dir/slurmdbd.conf")
    fi
    if ! pgrep -x slurmdbd >/dev/null; then
        nasl_as_root env SLURM_CONF="$SLURM_CONF" slurmdbd || nasl_die "slurmdbd did not start (see $dir/slurmdbd.log)"
        for i in $(seq 60); do
            sacctmgr -n -P list cluster >/dev/null 2>&1 && break
            [ "$i" = 60 ] && nasl_die "slurmdbd does not answer (see $dir/slurmdbd.log)"
            sleep 0.5
        done
    fi
    if ! sacctmgr -n -P list cluster format=cluster 2>/dev/null | grep -qx nasl; then
        nasl_as_root env SLURM_CONF="$SLURM_CONF" sacctmgr -i add cluster nasl >/dev/null || nasl_die "sacctmgr could not register the cluster (see $dir/slurmdbd.log)"
    fi
}

nasl_slurm_stop() {
    local dir="$NASL_CACHE/slurm" f
    export SLURM_CONF="$dir/slurm.conf"
    scancel --full --quiet --user "$(id -un)" 2>/dev/null || true
    for f in slurmd slurmctld slurmdbd mysql; do
        [ -f "$dir/$f.pid" ] && nasl_as_root kill "$(cat "$dir/$f.pid")" 2>/dev/null
    done
    return 0
}

nasl_ensure_rust
nasl_ensure_libtorch
nasl_ensure_fashion_mnist
