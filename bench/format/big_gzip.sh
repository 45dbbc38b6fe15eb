#!/bin/bash
# Issue 4's 20 GB run: the generator's hm1 CSV (`keel example readings-csv --bytes SIZE`),
# gzip-compressed on the way through a fifo (a 20 GB plain file twice plus ~54 GB of
# staging does not fit the development machine's disk), landed as one object and formatted
# under /usr/bin/time -v; the staging folder's size is sampled every 20 s into
# /tmp/big20.df. Prints the ledger sums and the table's and quarantine's row counts.
#
# Environment: KEEL (the binary; copy it out of the target folder first if builds may run
# meanwhile), ROOT (/tmp/big20), SIZE (20G).
set -euo pipefail
K=${KEEL:-$HOME/.cache/keel-target/debug/keel}
R=${ROOT:-/tmp/big20}
SIZE=${SIZE:-20G}
rm -rf $R /tmp/big20.fifo
$K init $R --example district-heating > /dev/null
R=$R python3 - <<'PY'
import os
p = os.environ['R'] + '/sources/meters.toml'
s=open(p).read()
s=s.replace('glob = "**/*.csv"','glob = "**/*.csv*"',1)
s=s.replace('[format]\nkind = "csv"\n','[format]\nkind = "csv"\nmax_uncompressed_bytes = 40000000000\n',1)
open(p,'w').write(s)
PY
T=$R/data/inbox/meters/hm1/2030-01-01/readings.csv.gz
mkdir -p $(dirname $T) $R/data/inbox/registry
mkfifo /tmp/big20.fifo
date -u +"%T generate start"
gzip -1 < /tmp/big20.fifo > $T &
$K --project $R example readings-csv --output /tmp/big20.fifo --bytes $SIZE --buildings 40000 --years 100
wait
date -u +"%T generated"; ls -l $T
sleep 3
/usr/bin/time -v $K --project $R collect --source meters 2> /tmp/big20.collect.time > /dev/null
$K --project $R land --source meters > /dev/null
rm -f $T
date -u +"%T landed"; df -h / | tail -1
uptime
(while sleep 20; do echo "$(date -u +%T) $(df -BG --output=used / | tail -1) $(du -s -BG $R/lake/_staging 2>/dev/null | cut -f1)"; done > /tmp/big20.df) &
SAMPLER=$!
/usr/bin/time -v $K --project $R format > /tmp/big20.format.log 2> /tmp/big20.format.time || true
kill $SAMPLER
date -u +"%T formatted"
grep -E "Elapsed|Maximum resident|User time|System time" /tmp/big20.format.time
$K --project $R sql "SELECT sum(rows_read) r, sum(rows_written) w, sum(rows_quarantined) q, sum(rows_duplicate) d FROM keel_catalog.ledger"
$K --project $R sql "SELECT count(*) FROM formatted.readings"
$K --project $R sql "SELECT count(*) FROM quarantine.readings"
du -sh $R/lake/formatted
