/*
 * The replica of bench/mesh.py: a tiny HTTP server that answers every request with its host name
 * (the container's, so a client can tell the replicas apart) and closes the connection.
 *
 * Why not busybox httpd: it forks a process per connection, and the benchmark makes a new
 * connection per request, so on a 2-core machine the server's fork rate, not the path to it, was
 * what got measured. Here a few workers are forked once, at start, and each loops
 * accept -> read the request -> write a fixed response -> close: no fork per connection, no
 * allocation, one read and one write per request, so the path, not the server, is measured.
 *
 * Usage: replica-server [PORT [WORKERS]]   (defaults: 80, one per CPU and at least 2)
 * Built by bench/mesh.py with `gcc -O2 -static` into an image FROM scratch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define BACKLOG 4096 /* the kernel caps it at net.core.somaxconn */
#define MAX_WORKERS 64

static char response[512];
static size_t response_len;
static pid_t workers[MAX_WORKERS];
static int nworkers;
static sigset_t parent_signals; /* blocked in the parent, which takes them with sigwaitinfo */

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* Read until the blank line that ends the request's head (a GET has no body), the buffer is
 * full, the peer closes, or the receive timeout passes. Leaving request bytes unread would make
 * close() send a reset instead of a FIN. */
static void read_request(int fd) {
    char buf[4096];
    size_t got = 0;
    while (got < sizeof buf) {
        ssize_t n = read(fd, buf + got, sizeof buf - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        size_t from = got >= 3 ? got - 3 : 0;
        got += (size_t)n;
        if (memmem(buf + from, got - from, "\r\n\r\n", 4) || memmem(buf + from, got - from, "\n\n", 2))
            return;
    }
}

static void write_response(int fd) {
    size_t sent = 0;
    while (sent < response_len) {
        ssize_t n = write(fd, response + sent, response_len - sent);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return; /* the client went away (EPIPE, ECONNRESET): nothing to do */
        sent += (size_t)n;
    }
}

static void serve(int listener) {
    struct timeval timeout = {.tv_sec = 5, .tv_usec = 0};
    for (;;) {
        int fd = accept(listener, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                usleep(10000); /* out of a resource: wait for some to be freed, do not spin */
                continue;
            }
            die("accept");
        }
        /* A client that never sends its request must not hold this worker for long. */
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
        read_request(fd);
        write_response(fd);
        close(fd);
    }
}

static pid_t start_worker(int listener) {
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        sigprocmask(SIG_UNBLOCK, &parent_signals, NULL);
        serve(listener);
        _exit(1);
    }
    return pid;
}

int main(int argc, char **argv) {
    int port = argc > 1 ? atoi(argv[1]) : 80;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    nworkers = argc > 2 ? atoi(argv[2]) : (int)(cpus < 2 ? 2 : cpus > MAX_WORKERS ? MAX_WORKERS : cpus);
    if (port <= 0 || port > 65535 || nworkers <= 0 || nworkers > MAX_WORKERS) {
        fprintf(stderr, "usage: %s [PORT [WORKERS (1-%d)]]\n", argv[0], MAX_WORKERS);
        return 2;
    }

    char name[256];
    if (gethostname(name, sizeof name - 1) != 0)
        die("gethostname");
    name[sizeof name - 1] = '\0';
    size_t body = strlen(name) + 1; /* the name and a newline */
    int len = snprintf(response, sizeof response,
                       "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n%s\n",
                       body, name);
    if (len < 0 || (size_t)len >= sizeof response) {
        fprintf(stderr, "host name too long\n");
        return 1;
    }
    response_len = (size_t)len;

    /* A client that resets mid-write must not kill the worker. */
    signal(SIGPIPE, SIG_IGN);

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0)
        die("socket");
    int one = 1;
    if (setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0)
        die("SO_REUSEADDR");
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0)
        die("bind");
    if (listen(listener, BACKLOG) != 0)
        die("listen");

    /* As PID 1 of its container, SIGTERM would be ignored: the parent blocks it (and SIGCHLD)
     * and waits for either, restarting a worker that exits and stopping them all on SIGTERM. */
    sigemptyset(&parent_signals);
    sigaddset(&parent_signals, SIGTERM);
    sigaddset(&parent_signals, SIGINT);
    sigaddset(&parent_signals, SIGCHLD);
    sigprocmask(SIG_BLOCK, &parent_signals, NULL);

    for (int i = 0; i < nworkers; i++)
        workers[i] = start_worker(listener);
    fprintf(stderr, "replica-server: %s on port %d, %d workers\n", name, port, nworkers);

    for (;;) {
        int sig = sigwaitinfo(&parent_signals, NULL);
        if (sig < 0 && errno == EINTR)
            continue;
        if (sig != SIGCHLD)
            break;
        pid_t gone;
        while ((gone = waitpid(-1, NULL, WNOHANG)) > 0)
            for (int i = 0; i < nworkers; i++)
                if (workers[i] == gone) {
                    sleep(1); /* a worker never should exit: if they keep dying, no fork storm */
                    workers[i] = start_worker(listener);
                }
    }
    for (int i = 0; i < nworkers; i++)
        kill(workers[i], SIGTERM);
    while (wait(NULL) > 0 || errno == EINTR)
        ;
    return 0;
}
