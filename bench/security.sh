#!/usr/bin/env bash
# Scan Scriptreel with wapiti (Debian's web vulnerability scanner) as a signed-in editor.
# Starts its own instance on 127.0.0.1 with throwaway data; prints wapiti's findings.
# Usage: bench/security.sh [max scan seconds, default 900]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wapiti >/dev/null || { apt-get update -qq && apt-get install -y -qq wapiti >/dev/null; }
source scripts/venv.sh
work=$(mktemp -d)
port=$(.venv/bin/python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
PORT=$port SCRIPTREEL_INSTANCE_PATH="$work/instance" RATELIMIT_ENABLED=0 \
  .venv/bin/python scripts/run_local.py > "$work/server.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do grep -q "running at" "$work/server.log" && break; sleep 0.5; done
project=$(.venv/bin/python bench/security_session.py "$base" "$work/cookies.json" | sed -n 's/.*project //p')
# Logging out, ending sessions or deleting the target would end the authenticated scan early. Debian's wapiti
# 3.0.4 builds exclusion patterns that Python 3.11's re rejects; run it with that one fixed.
wapiti() {
  /usr/bin/python3 -c '
import re, sys
import wapitiCore.net.crawler as crawler
crawler.wildcard_translate = lambda p: re.compile("(?ms)" + ".*".join(map(re.escape, p.split("*"))) + r"\Z")
from wapitiCore.main.wapiti import wapiti_main
sys.argv[0] = "wapiti"
wapiti_main()' "$@"
}
wapiti -u "$base/" --scope folder -c "$work/cookies.json" \
  -x "$base/logout" -x "$base/account/sessions/*" -x "$base/projects/$project/delete" \
  -d 4 --max-links-per-page 60 --max-files-per-dir 40 --max-attack-time 60 \
  --max-scan-time "${1:-900}" --flush-session -f txt -o "$work/report.txt" -v 1 > "$work/wapiti.log" 2>&1 || tail -20 "$work/wapiti.log"
echo "=== wapiti findings (scan of $base as an editor) ==="
sed -n '/Summary of vulnerabilities/,$p' "$work/report.txt" 2>/dev/null || cat "$work/report.txt"
