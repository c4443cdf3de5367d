/* Stands in for slurmstepd while bench/cost.sh runs (bind-mounted over the real binary, which
 * was copied to REAL first): runs the real slurmstepd as its child, traced only to be stopped at
 * its exit (PTRACE_O_TRACEEXIT: the process still has its memory and threads' times), and there
 * records, as one line appended to OUT:
 *
 *   start_ns end_ns cpu_ns hwm_kib rss_kib job title
 *
 * start/end: wall clock (CLOCK_REALTIME) at this wrapper's start and at slurmstepd's exit;
 * cpu_ns: slurmstepd's own CPU time, user+sys, all its threads, from its process CPU clock
 *   (clock_getcpuclockid: exact, nanoseconds; children such as the job's tasks not included);
 * hwm_kib/rss_kib: VmHWM (peak RSS) and VmRSS from /proc/PID/status at the exit stop;
 * job: SLURM_JOB_ID from the environment (set for `slurmstepd spank epilog`), else "-";
 * title: /proc/PID/cmdline at exit ("slurmstepd: [12.batch]", or the original arguments).
 *
 * Signals to slurmstepd are passed on unchanged; nothing else is intercepted. Build:
 *   cc -O2 -DREAL='"…/slurmstepd.real"' -DOUT='"…/stepd.tsv"' -o stepd-watch stepd-watch.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(clockid_t clock)
{
	struct timespec ts;
	if (clock_gettime(clock, &ts) != 0)
		return -1;
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long status_kib(pid_t pid, const char *key)
{
	char path[64], line[256];
	long value = -1;
	size_t len = strlen(key);
	snprintf(path, sizeof path, "/proc/%d/status", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, key, len) == 0 && line[len] == ':') {
			value = strtol(line + len + 1, NULL, 10);
			break;
		}
	fclose(f);
	return value;
}

static void record(pid_t pid, long long start)
{
	char path[64], title[512], line[1024];
	clockid_t cpu_clock;
	long long cpu = -1;
	if (clock_getcpuclockid(pid, &cpu_clock) == 0)
		cpu = now_ns(cpu_clock);
	long long end = now_ns(CLOCK_REALTIME);
	long hwm = status_kib(pid, "VmHWM"), rss = status_kib(pid, "VmRSS");
	snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
	ssize_t n = -1;
	int fd = open(path, O_RDONLY);
	if (fd >= 0) {
		n = read(fd, title, sizeof title - 1);
		close(fd);
	}
	if (n < 0)
		n = 0;
	title[n] = 0;
	for (ssize_t i = 0; i < n; i++)
		if (title[i] == 0 || title[i] == '\t' || title[i] == '\n')
			title[i] = ' ';
	while (n > 0 && title[n - 1] == ' ')
		title[--n] = 0;
	const char *job = getenv("SLURM_JOB_ID");
	int len = snprintf(line, sizeof line, "%lld\t%lld\t%lld\t%ld\t%ld\t%s\t%s\n", start, end,
			   cpu, hwm, rss, job && *job ? job : "-", title);
	fd = open(OUT, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		if (write(fd, line, len) < 0) { /* nothing to do: the bench sees the line missing */
		}
		close(fd);
	}
}

int main(int argc, char **argv)
{
	(void)argc;
	long long start = now_ns(CLOCK_REALTIME);
	pid_t pid = fork();
	if (pid < 0) {
		execv(REAL, argv);
		_exit(127);
	}
	if (pid == 0) {
		ptrace(PTRACE_TRACEME, 0, NULL, NULL);
		raise(SIGSTOP);
		execv(REAL, argv);
		_exit(127);
	}
	/* Hold none of slurmd's pipes: slurmd and slurmstepd talk over them. */
	int null = open("/dev/null", O_RDWR);
	dup2(null, 0);
	dup2(null, 1);
	dup2(null, 2);
	syscall(SYS_close_range, 3U, ~0U, 0);

	int status;
	if (waitpid(pid, &status, 0) < 0)
		return 127;
	ptrace(PTRACE_SETOPTIONS, pid, NULL,
	       (void *)(long)(PTRACE_O_TRACEEXIT | PTRACE_O_TRACEEXEC));
	ptrace(PTRACE_CONT, pid, NULL, NULL);
	for (;;) {
		if (waitpid(pid, &status, __WALL) < 0) {
			if (errno == EINTR)
				continue;
			return 127;
		}
		if (WIFEXITED(status))
			return WEXITSTATUS(status);
		if (WIFSIGNALED(status))
			return 128 + WTERMSIG(status);
		if (!WIFSTOPPED(status))
			continue;
		int sig = WSTOPSIG(status), event = (unsigned)status >> 16;
		if (event == PTRACE_EVENT_EXIT)
			record(pid, start);
		if (event)
			sig = 0;
		ptrace(PTRACE_CONT, pid, NULL, (void *)(long)sig);
	}
}
