#!/usr/bin/env bash
# make bench-dag: the runner on a MELD-shaped tree of 13 708 clips (200 KB each, 2.7 GB).
# Prints cold hashing, no-op status, and status and rerun after one clip changed; the last line is JSON.
# The stage is the test kind `test.digest` (reads each clip whole), run through `emotion`'s own command line.
set -euo pipefail
cd "$(dirname "$0")/.."

bench=data/bench
tree=$bench/MELD.Raw
probe=.build/release/pipeline-probe
files_expected=13708

swift build -c release --product pipeline-probe >/dev/null

count=$(find "$tree" -name '*.mp4' 2>/dev/null | wc -l || true)
if [[ "$count" != "$files_expected" ]]; then
  echo "building $files_expected files of 200 KB under $tree ..."
  rm -rf "$tree"
  python3 - "$tree" <<'PY'
import os, sys
root = sys.argv[1]
for folder, rows in (("train_splits", 9989), ("dev_splits_complete", 1109), ("output_repeated_splits_test", 2610)):
    os.makedirs(os.path.join(root, folder), exist_ok=True)
    for n in range(rows):
        with open(os.path.join(root, folder, f"dia{n // 10}_utt{n % 10}.mp4"), "wb") as f:
            f.write(os.urandom(200 * 1024))
PY
fi

cat > $bench/bench.yaml <<'YAML'
stages:
  clips:
    uses: test.digest
    map: {path: MELD.Raw, glob: "**/*.mp4"}
YAML

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }
run() { "$probe" "$@" --workspace "$bench"; }

rm -rf "$bench/cache" "$bench/out"
sync
# Cold: no stat cache, so every byte is read. Drop the page cache too when allowed (root, not in a container).
if echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then page="dropped"; else page="warm (could not drop)"; fi
t0=$(now); run status $bench/bench.yaml >/dev/null; t1=$(now)
cold=$(elapsed $t0 $t1)
echo "cold hashing (status, no stat cache, page cache $page): ${cold} s for $files_expected files"

t0=$(now); run run $bench/bench.yaml -j 2 >/dev/null 2>&1; t1=$(now)
echo "first run (executes every item): $(elapsed $t0 $t1) s"

best() {  # best of 5 runs of the command, in seconds
  local best=999
  for _ in 1 2 3 4 5; do
    local a b; a=$(now); "$@" >/dev/null 2>&1; b=$(now)
    best=$(python3 -c "print(min($best, $b - $a))")
  done
  printf '%.3f' "$best"
}
noop=$(best run status $bench/bench.yaml)
echo "no-op status: ${noop} s   (DVC 3.67: 0.70 s; target < 0.2 s)"

victim=$tree/dev_splits_complete/dia42_utt3.mp4
python3 -c "import os; open('$victim','wb').write(os.urandom(200*1024))"
t0=$(now); run status $bench/bench.yaml > $bench/status.txt; t1=$(now)
changed_status=$(elapsed $t0 $t1)
echo "status after one clip changed: ${changed_status} s   (DVC 3.67: 1.2 s; target < 0.3 s)"
sed 's/^/    /' $bench/status.txt

t0=$(now); out=$(run run $bench/bench.yaml -j 2 2>/dev/null); t1=$(now)
changed_rerun=$(elapsed $t0 $t1)
items=$(echo "$out" | sed -n 's/.*; \([0-9]*\) units executed.*/\1/p')
echo "rerun after one clip changed: ${changed_rerun} s, ${items} item(s) executed   (DVC: the whole stage; target: exactly 1)"

echo "{\"files\": $files_expected, \"cold_hash_s\": $cold, \"noop_status_s\": $noop, \"changed_status_s\": $changed_status, \"changed_rerun_s\": $changed_rerun, \"changed_rerun_items\": $items}"
