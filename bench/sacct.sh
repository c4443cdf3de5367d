# Shell functions the benchmarks share (sourced, not run).

# sacct's MaxRSS for the job (largest over its steps), in MiB; 0 when sacct saw nothing.
maxrss_mib() {
    sacct -n -P -j "$1" -o MaxRSS | awk '
        { v = $1; u = substr(v, length(v)); n = v + 0
          if (u == "K") n /= 1024; else if (u == "G") n *= 1024; else if (u != "M") n /= 1048576
          if (n > m) m = n }
        END { printf "%d", m }'
}
