#!/usr/bin/env bash
# Fetches MELD.Raw.tar.gz with curl (resuming a partial download), checks its size and SHA-256,
# and unpacks it into data/MELD.Raw. The only step of the project that uses the network.
set -euo pipefail
url=$1 bytes=$2 sha=$3
cd "$(dirname "$0")/.."
mkdir -p data/downloads
archive=data/downloads/MELD.Raw.tar.gz
if [[ -d data/MELD.Raw ]]; then echo "data/MELD.Raw is already there"; exit 0; fi
curl --fail --location --continue-at - --output "$archive.part" "$url"
size=$(stat -c %s "$archive.part")
[[ "$size" == "$bytes" ]] || { echo "error: $archive.part has $size bytes, expected $bytes (delete it to start over)"; exit 1; }
echo "$sha  $archive.part" | sha256sum --check --quiet || { echo "error: $archive.part fails its SHA-256 check"; exit 1; }
mv "$archive.part" "$archive"
rm -rf data/MELD.Raw.unpacking && mkdir -p data/MELD.Raw.unpacking
tar -xzf "$archive" -C data/MELD.Raw.unpacking
# The outer tarball holds MELD.Raw/ with further tarballs per split; the clean stage finds them wherever they land.
for inner in data/MELD.Raw.unpacking/*/*.tar.gz data/MELD.Raw.unpacking/*.tar.gz; do
  [[ -f "$inner" ]] && tar -xzf "$inner" -C "$(dirname "$inner")" && rm "$inner"
done
mv data/MELD.Raw.unpacking data/MELD.Raw
echo "data/MELD.Raw ready"
