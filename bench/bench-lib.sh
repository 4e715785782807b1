# SPDX-License-Identifier: GPL-2.0-or-later
# Helpers shared by the benchmarks.

# The duration scratchd logs for one wipe step, in ms, from a log holding lines
# like "scratch1: mkfs scratchd-scratch1: 388.6 ms"; "skipped", or 0 if absent.
step_ms() {  # step_ms LOG STEP
        awk -v step="$2" '
                $0 ~ ": " step " " && /skipped/ { print "skipped"; found = 1; next }
                $0 ~ ": " step " " { d = $(NF-1); u = $NF; if (u == "s") d *= 1000; print d; found = 1 }
                END { if (!found) print 0 }' "$1" | tail -n1
}

# The median of numbers on stdin, one per line ("skipped" sorts first).
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
