/* The launch server in C: ``launchd serve PYTHON SCRIPT [CODE]`` does what
 * ``guest.py serve`` does (see launches.py and guest.py), but each launcher is
 * a vfork of this small process, not a fork of a Python interpreter: no page
 * tables are copied (an interpreter's cost ~0.4 ms of CPU per launch, this
 * process's ~45 us) and no Python runs before it is in the instance's cgroups
 * (the interpreter's after-fork work and page copies, ~0.5 ms).
 *
 * A request on stdin: a head of HEAD bytes, "ID WAIT JOIN PATH CONFIG" (the
 * request's number, seconds to wait for the boot, the lengths of the three
 * parts that follow), then the cgroups to join (their cgroup.procs files,
 * NUL-separated, the CPU accounting one first), CONFIG.json's path, the config.
 * The fork makes and joins the cgroups, then execs PYTHON -S -c (an import of
 * SCRIPT) SCRIPT launch PATH - with the config on its stdin and
 * GUREUM_READY_FD naming its ready pipe (and GUREUM_GUEST_CODE naming CODE, a
 * directory with SCRIPT compiled as guest.pyc, imported instead of SCRIPT where
 * given): from the first instruction of the
 * exec on, everything is the instance's. An answer on stdout, one line: {"id": N, "error": null or "why",
 * "pid": the launcher's}, once the instance has booted or failed (its ready
 * pipe says so, as guest.said reads it), or the wait is over. The server exits
 * at the end of its input; its launchers go on. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define HEAD 64
#define MAX_WAITING 1024

struct waiting {
    int fd;
    long id;
    pid_t pid;
    double deadline;
};

static struct waiting waiting[MAX_WAITING];
static int nwaiting;

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void reap(int signum) {
    (void)signum;
    int saved = errno;
    while (waitpid(-1, NULL, WNOHANG) > 0) {
    }
    errno = saved;
}

static int read_exactly(int fd, char *buf, size_t size) {
    size_t got = 0;
    while (got < size) {
        ssize_t n = read(fd, buf + got, size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        got += (size_t)n;
    }
    return 0;
}

static void write_all(int fd, const char *buf, size_t size) {
    while (size > 0) {
        ssize_t n = write(fd, buf, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        size -= (size_t)n;
    }
}

/* One answer line; error (as the ready pipe said it, may be NULL) JSON-escaped. */
static void answer(long id, const char *error, size_t len, pid_t pid) {
    char out[8192];
    size_t n = 0;
    if (error == NULL) {
        if (pid > 0)
            n = (size_t)snprintf(out, sizeof out, "{\"id\": %ld, \"error\": null, \"pid\": %d}\n",
                                 id, (int)pid);
        else
            n = (size_t)snprintf(out, sizeof out, "{\"id\": %ld, \"error\": null, \"pid\": null}\n",
                                 id);
        write_all(1, out, n);
        return;
    }
    n = (size_t)snprintf(out, sizeof out, "{\"id\": %ld, \"error\": \"", id);
    for (size_t i = 0; i < len && n < sizeof out - 64; i++) {
        unsigned char c = (unsigned char)error[i];
        if (c == '"' || c == '\\') {
            out[n++] = '\\';
            out[n++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) { /* (always valid JSON, whatever the bytes) */
            n += (size_t)snprintf(out + n, sizeof out - n, "\\u%04x", c);
        } else {
            out[n++] = (char)c;
        }
    }
    n += (size_t)snprintf(out + n, sizeof out - n, "\", \"pid\": null}\n");
    write_all(1, out, n);
}

/* In the fork: say why the launch failed on the ready pipe, and end. */
static void fail(int ready, const char *what, const char *path) {
    char msg[4096];
    int n = snprintf(msg, sizeof msg, "!launch failed: %s %s: %s", what, path, strerror(errno));
    write_all(ready, msg, (size_t)n);
    _exit(1);
}

static void make_dirs(char *dir) {
    if (mkdir(dir, 0755) == 0 || errno == EEXIST)
        return;
    if (errno != ENOENT)
        return;
    for (char *p = dir + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
    }
    mkdir(dir, 0755);
}

/* Make each cgroup (the directory of its cgroup.procs) and move this process in. */
static void join(char *paths, size_t len, int ready) {
    char pid[32];
    int pid_len = snprintf(pid, sizeof pid, "%d", (int)getpid());
    char *p = paths, *end = paths + len; /* (paths[len] is a NUL) */
    while (p < end) {
        char *next = p + strlen(p);
        if (*p) {
            char *slash = strrchr(p, '/');
            if (slash != NULL && slash != p) {
                *slash = '\0';
                make_dirs(p);
                *slash = '/';
            }
            int fd = open(p, O_WRONLY | O_CLOEXEC);
            if (fd < 0)
                fail(ready, "cannot join the cgroup", p);
            if (write(fd, pid, (size_t)pid_len) != pid_len)
                fail(ready, "cannot join the cgroup", p);
            close(fd);
        }
        p = next + 1;
    }
}

/* The launchers' environment: this process's, with GUREUM_READY_FD (set per
 * launch) and GUREUM_GUEST_CODE (CODE, if given) last. Made here, before the
 * fork: a vfork's child shares this process's memory and may not allocate. */
static char **env;
static char ready_var[64];
static sigset_t unblocked;

static void make_env(const char *code) {
    size_t n = 0;
    for (char **e = environ; *e; e++)
        n++;
    env = calloc(n + 3, sizeof *env);
    if (env == NULL)
        exit(1);
    size_t k = 0;
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "GUREUM_READY_FD=", 16) != 0 && strncmp(*e, "GUREUM_GUEST_CODE=", 18) != 0)
            env[k++] = *e;
    env[k++] = ready_var;
    if (code != NULL) {
        size_t len = strlen(code) + 19;
        env[k] = malloc(len);
        if (env[k] == NULL)
            exit(1);
        snprintf(env[k++], len, "GUREUM_GUEST_CODE=%s", code);
    }
    env[k] = NULL;
}

/* In the vfork's child (this process's memory, until the exec): nothing here
 * allocates or returns. */
static void launch(char *joins, size_t join_len, char *path, char *config, size_t config_len,
                   int ready, const char *python, const char *script) {
    join(joins, join_len, ready);
    /* From here on, this process is the instance's. */
    int cfg[2];
    if (pipe(cfg) < 0)
        fail(ready, "cannot pass the config of", path);
    if (config_len >= 65536 && fcntl(cfg[1], F_SETPIPE_SZ, (int)config_len + 1) < 0)
        fail(ready, "cannot pass the config of", path);
    write_all(cfg[1], config, config_len);
    close(cfg[1]);
    if (dup2(cfg[0], 0) < 0)
        fail(ready, "cannot pass the config of", path);
    close(cfg[0]);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) {
        dup2(null, 1); /* (not the answers' pipe) */
        close(null);
    }
    signal(SIGCHLD, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    sigprocmask(SIG_SETMASK, &unblocked, NULL);
    /* guest.py imported, not run as a script: a script is compiled at each start
     * (~6 ms), a module's compiled code is kept (CODE's guest.pyc, else its
     * __pycache__ where that is written). The command line still names SCRIPT,
     * then launch PATH -. (The variable is taken out of the environment: the
     * instance's processes do not inherit it.) */
    char *argv[] = {(char *)python, "-S", "-c",
                    "import os, sys; sys.path.append(os.environ.pop('GUREUM_GUEST_CODE', '') "
                    "or sys.argv[1].rpartition('/')[0]); "
                    "import guest; sys.exit(guest.main(sys.argv[1:]))",
                    (char *)script, "launch", path, "-", NULL};
    execve(python, argv, env);
    fail(ready, "cannot start", python);
}

static void request(const char *python, const char *script) {
    char head[HEAD + 1];
    if (read_exactly(0, head, HEAD) < 0)
        exit(0);
    head[HEAD] = '\0';
    long id;
    double wait;
    size_t sizes[3];
    if (sscanf(head, "%ld %lf %zu %zu %zu", &id, &wait, &sizes[0], &sizes[1], &sizes[2]) != 5)
        exit(1); /* not a request: nothing after it can be read right */
    /* Laid out as the joins, NUL, the path, NUL, the config. */
    char *body = malloc(sizes[0] + sizes[1] + sizes[2] + 2);
    if (body == NULL)
        exit(1);
    char *joins = body, *path = body + sizes[0] + 1, *config = path + sizes[1] + 1;
    if (read_exactly(0, joins, sizes[0]) < 0 || read_exactly(0, path, sizes[1]) < 0
            || read_exactly(0, config, sizes[2]) < 0)
        exit(1);
    joins[sizes[0]] = '\0';
    path[sizes[1]] = '\0';
    int ready[2];
    if (pipe2(ready, O_CLOEXEC) < 0 || nwaiting >= MAX_WAITING) {
        const char *why = "launch failed: the launch server has too many launches";
        answer(id, why, strlen(why), 0);
        free(body);
        return;
    }
    snprintf(ready_var, sizeof ready_var, "GUREUM_READY_FD=%d", ready[1]);
    /* A vfork: the child runs in this process's memory until its exec (no page
     * tables to copy, ~45 us of this process's CPU per launch, and none of its
     * pages to fault in before it is in the instance's cgroups, ~60 us), while
     * this process waits. No signal handler of this process may run in it. */
    sigset_t all, before;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &before);
    pid_t pid = vfork();
    if (pid == 0) {
        close(ready[0]);
        fcntl(ready[1], F_SETFD, 0); /* (the launcher keeps it) */
        launch(joins, sizes[0], path, config, sizes[2], ready[1], python, script);
        _exit(1);
    }
    sigprocmask(SIG_SETMASK, &before, NULL);
    close(ready[1]);
    free(body);
    if (pid < 0) {
        const char *why = "launch failed: fork failed";
        answer(id, why, strlen(why), 0);
        close(ready[0]);
        return;
    }
    waiting[nwaiting++] = (struct waiting){ready[0], id, pid, now() + wait};
}

int main(int argc, char **argv) {
    if ((argc != 4 && argc != 5) || strcmp(argv[1], "serve") != 0) {
        fprintf(stderr, "usage: launchd serve PYTHON SCRIPT [CODE]\n");
        return 2;
    }
    struct sigaction reaper = {0};
    reaper.sa_handler = reap;
    sigaction(SIGCHLD, &reaper, NULL);
    signal(SIGINT, SIG_IGN); /* gureum's ^C: gureum says when to stop */
    signal(SIGPIPE, SIG_IGN);
    sigprocmask(SIG_SETMASK, NULL, &unblocked);
    make_env(argc == 5 ? argv[4] : NULL);
    struct pollfd fds[MAX_WAITING + 1];
    for (;;) {
        int timeout = -1;
        double t = now();
        fds[0] = (struct pollfd){0, POLLIN, 0};
        for (int i = 0; i < nwaiting; i++) {
            fds[i + 1] = (struct pollfd){waiting[i].fd, POLLIN, 0};
            int left = waiting[i].deadline <= t ? 0 : (int)((waiting[i].deadline - t) * 1000) + 1;
            if (timeout < 0 || left < timeout)
                timeout = left;
        }
        int n = poll(fds, (nfds_t)nwaiting + 1, timeout);
        if (n < 0 && errno != EINTR)
            return 1;
        t = now();
        int kept = 0;
        for (int i = 0; i < nwaiting; i++) {
            struct waiting w = waiting[i];
            if (n > 0 && fds[i + 1].revents) {
                char said[4096];
                ssize_t got = read(w.fd, said, sizeof said);
                close(w.fd);
                if (got > 0 && said[0] == '!') {
                    if (got == 1)
                        answer(w.id, "launch failed", 13, 0);
                    else
                        answer(w.id, said + 1, (size_t)got - 1, 0);
                } else {
                    answer(w.id, NULL, 0, w.pid); /* booted (a byte) or its init ended */
                }
            } else if (w.deadline <= t) {
                close(w.fd);
                answer(w.id, NULL, 0, w.pid);
            } else {
                waiting[kept++] = w;
            }
        }
        nwaiting = kept;
        if (n > 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)))
            request(argv[2], argv[3]);
    }
}
