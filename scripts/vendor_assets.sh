#!/usr/bin/env bash
# Vendor the JS/CSS that the dashboard's folium maps load into dashboard/static/vendor/.
#
# The dashboard runs on machines without internet, so Streamlit serves these files itself
# (`[server] enableStaticServing = true`, dashboard/static/ -> /app/static/); see
# dashboard/offline.py for how folium is pointed at them and dashboard/static/vendor/README.md
# for the list.
#
# Needs: npm (registry access), node, tar, and the project's Python with folium installed
# (folium ships the patched Leaflet.heat build that its HeatMap uses).
# Idempotent: every package directory is rebuilt from scratch; re-running gives the same tree.
# Each tarball is checked against the pinned npm `dist.integrity` (sha512) before use.
#
# Usage: scripts/vendor_assets.sh            (PYTHON=python3 scripts/vendor_assets.sh to pick one)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/dashboard/static/vendor"
PYTHON="${PYTHON:-python}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# name@version and the sha512 integrity npm publishes for its tarball (`npm view NAME@VER dist.integrity`)
LEAFLET="leaflet@1.9.3"
LEAFLET_SRI="sha512-iB2cR9vAkDOu5l3HAay2obcUHZ7xwUBBjph8+PGtmW/2lYhbLizWtG7nTeYht36WfOslixQF9D/uSIzhZgGMfQ=="
JQUERY="jquery@3.7.1"
JQUERY_SRI="sha512-m4avr8yL8kmFN8psrbFFFmB/If14iN5o9nw/NgnnM+kybDJpRsAynV2BsfpTYrTRysYUdADVD7CkUUizgkpLfg=="
CLUSTER="leaflet.markercluster@1.1.0"
CLUSTER_SRI="sha512-eI+XkCiLiHwCC3uZ4/n4+Vq3rXcqEHN2lhHRVG1WVziy/3Q0TTipWkzEa1zO0dKZI2AnI5ppFDWrOjnQ7MJLKQ=="
GROUPED="leaflet-groupedlayercontrol@0.6.1"
GROUPED_SRI="sha512-xkGeH6ygcryFQI0FUWn6Bz93zlwrOSpeXgJQ3jLRoUQJ5h/Qgrz+GqR9nhBFfikjUKtC1sCKL3eDR9wNTWhLlA=="
HEAT="leaflet.heat@0.2.0"
HEAT_SRI="sha512-Cd5PbAA/rX3X3XKxfDoUGi9qp78FyhWYurFg3nsfhntcM/MCNK08pRkf4iEenO1KNqwVPKCmkyktjW3UD+h9bQ=="
FULLSCREEN="leaflet.fullscreen@3.0.0"
FULLSCREEN_SRI="sha512-81wWSUXz1ZtdneR0v5eJDWXUSx+Zo5J50WXWeydG/UcILfIEAgz/iOjZSi3p00Z9MJ/FC/P5i3CgdYuEAos0yQ=="
# folium's own Leaflet.heat build (leaflet.heat 0.2.0 + the weights fix of Leaflet.heat PR #78),
# the file folium 0.20's HeatMap.default_js loads from jsDelivr; taken from the installed wheel.
FOLIUM_HEAT_SHA256="7378c428ff2318ec48e7e73c0d46061f938aa75551c519c74cd790b044dfa0fa"

# fetch NAME@VERSION SRI -> prints the directory holding the unpacked `package/`
fetch() {
  local spec=$1 sri=$2 dir
  dir="$WORK/${spec//[@\/]/_}"
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "$spec" >/dev/null)
  local tgz actual
  tgz="$(ls "$dir"/*.tgz)"
  actual="sha512-$(node -e 'const c=require("crypto"),f=require("fs");
    process.stdout.write(c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$tgz")"
  if [[ "$actual" != "$sri" ]]; then
    echo "integrity mismatch for $spec: got $actual" >&2
    exit 1
  fi
  tar xzf "$tgz" -C "$dir"
  echo "$dir/package"
}

# put PKG_DIR SRC_ROOT FILE... : copy FILEs (paths relative to SRC_ROOT) into $DEST/PKG_DIR/,
# keeping sub-directories (e.g. images/); the package directory is recreated from scratch.
put() {
  local pkg=$1 src=$2
  shift 2
  local out="$DEST/$pkg"
  rm -rf "$out"
  mkdir -p "$out"
  local f
  for f in "$@"; do
    mkdir -p "$out/$(dirname "$f")"
    cp "$src/$f" "$out/$f"
  done
}

mkdir -p "$DEST"

src="$(fetch "$LEAFLET" "$LEAFLET_SRI")"
mkdir -p "$src/dist/images"
cp "$src/LICENSE" "$src/dist/LICENSE"
put leaflet "$src/dist" leaflet.js leaflet.css LICENSE \
  images/layers.png images/layers-2x.png \
  images/marker-icon.png images/marker-icon-2x.png images/marker-shadow.png

src="$(fetch "$JQUERY" "$JQUERY_SRI")"
cp "$src/LICENSE.txt" "$src/dist/LICENSE.txt"
put jquery "$src/dist" jquery.min.js LICENSE.txt

src="$(fetch "$CLUSTER" "$CLUSTER_SRI")"
cp "$src/MIT-LICENCE.txt" "$src/dist/MIT-LICENCE.txt"
put leaflet.markercluster "$src/dist" \
  leaflet.markercluster.js MarkerCluster.css MarkerCluster.Default.css MIT-LICENCE.txt

src="$(fetch "$GROUPED" "$GROUPED_SRI")"
cp "$src/LICENSE.txt" "$src/dist/LICENSE.txt"
put leaflet-groupedlayercontrol "$src/dist" \
  leaflet.groupedlayercontrol.min.js leaflet.groupedlayercontrol.min.css LICENSE.txt

src="$(fetch "$FULLSCREEN" "$FULLSCREEN_SRI")"
put leaflet.fullscreen "$src" Control.FullScreen.js Control.FullScreen.css icon-fullscreen.svg LICENSE

# Leaflet.heat: the licence comes from the npm package, the script from folium's wheel.
src="$(fetch "$HEAT" "$HEAT_SRI")"
put leaflet.heat "$src" LICENSE
"$PYTHON" - "$DEST/leaflet.heat" "$FOLIUM_HEAT_SHA256" <<'PY'
import hashlib
import shutil
import sys
from importlib.metadata import distribution
from pathlib import Path

out, expected = Path(sys.argv[1]), sys.argv[2]
dist = distribution("folium")
heat = Path(str(dist.locate_file("folium/templates/leaflet_heat.min.js")))
digest = hashlib.sha256(heat.read_bytes()).hexdigest()
if digest != expected:
    sys.exit(f"{heat} (folium {dist.version}) has sha256 {digest}, expected {expected}")
shutil.copyfile(heat, out / "leaflet_heat.min.js")
licence = next(f for f in dist.files or [] if f.name.upper().startswith("LICENSE"))
shutil.copyfile(Path(str(dist.locate_file(licence))), out / "LICENSE.folium.txt")
PY

echo "vendored into $DEST:"
(cd "$DEST" && find . -type f ! -name README.md | sort | xargs du -b | awk '{s+=$1; print} END {print s, "bytes total"}')
