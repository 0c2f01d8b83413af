/*
 * The metrics every Prometheus client library exports for its process
 * (process_cpu_seconds_total, process_resident_memory_bytes, …), read from
 * /proc at each scrape, and hydracluster_build_info. Registered as a
 * collector by metrics_init; worker thread, no lock.
 */
#include <dirent.h>
#include <openssl/opensslv.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <h2o/version.h>

#include "metrics.h"
#include "store.h"

extern const char *hc_version;

/* from /proc/self/stat: utime+stime (ticks), starttime (ticks since boot), vsize, rss (pages); 0 or -1 */
static int proc_stat(unsigned long long *cpu_ticks, unsigned long long *start_ticks, unsigned long long *vsize,
                     long long *rss_pages)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* the command name may hold spaces and parentheses: fields start after the last ')' */
    char *p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    unsigned long long utime, stime;
    /* fields 3.. : state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
     * cutime cstime priority nice threads itrealvalue starttime vsize rss */
    if (sscanf(p + 2,
               "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d %*d %llu %llu %lld",
               &utime, &stime, start_ticks, vsize, rss_pages) != 5)
        return -1;
    *cpu_ticks = utime + stime;
    return 0;
}

static long long boot_time(void)
{
    char line[256];
    long long btime = -1;
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "btime %lld", &btime) == 1)
            break;
    fclose(f);
    return btime;
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return -1;
    long n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the directory stream's own descriptor */
}

void metrics_process_collect(FILE *f)
{
    char v[128];
    fprintf(f,
            "# HELP hydracluster_build_info The running build: version and the libraries it was built with.\n"
            "# TYPE hydracluster_build_info gauge\n"
            "hydracluster_build_info{version=\"%s\",h2o=\"%s\",sqlite=\"%s\",openssl=\"%s\",schema=\"%d\"} 1\n",
            metrics_label_escape(v, sizeof(v), hc_version), H2O_VERSION, sqlite3_libversion(), OPENSSL_VERSION_TEXT,
            store_schema_version());
    unsigned long long cpu, start, vsize;
    long long rss;
    long tick = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
    if (proc_stat(&cpu, &start, &vsize, &rss) == 0 && tick > 0 && page > 0) {
        fprintf(f,
                "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
                "# TYPE process_cpu_seconds_total counter\n"
                "process_cpu_seconds_total %.2f\n"
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                "# TYPE process_resident_memory_bytes gauge\n"
                "process_resident_memory_bytes %lld\n"
                "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                "# TYPE process_virtual_memory_bytes gauge\n"
                "process_virtual_memory_bytes %llu\n",
                (double)cpu / (double)tick, rss * page, vsize);
        long long btime = boot_time();
        if (btime > 0)
            fprintf(f,
                    "# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n"
                    "# TYPE process_start_time_seconds gauge\n"
                    "process_start_time_seconds %.2f\n",
                    (double)btime + (double)start / (double)tick);
    }
    long fds = open_fds();
    if (fds >= 0)
        fprintf(f,
                "# HELP process_open_fds Number of open file descriptors.\n"
                "# TYPE process_open_fds gauge\n"
                "process_open_fds %ld\n",
                fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        fprintf(f,
                "# HELP process_max_fds Maximum number of open file descriptors.\n"
                "# TYPE process_max_fds gauge\n"
                "process_max_fds %llu\n",
                (unsigned long long)rl.rlim_cur);
}
