/*
 * httpd.c — the loopback HTTP server of the C conformance suite (see httpd.h).
 */
#include "check.h" /* first: feature macros; check_byte() */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "httpd.h"

#define HTTPD_ROUTES 64
#define HTTPD_LOG 512
#define HTTPD_CONNS 256
#define HTTPD_PATH 256

typedef struct route {
    char path[HTTPD_PATH];
    int status;
    uint64_t size;
    unsigned seed;
    uint64_t stall_at;
    int stall_times;
    int released;
    int requests, stalled, aborted, completed;
    int64_t last_range;
} route;

typedef struct conn {
    pthread_t thread;
    int fd;
    int done; /* set (under the server lock) when the thread is about to end */
    httpd *server;
} conn;

struct httpd {
    int listen_fd;
    unsigned port;
    pthread_t acceptor;
    pthread_mutex_t lock;
    int stopping;
    route routes[HTTPD_ROUTES];
    int nroutes;
    char log[HTTPD_LOG][HTTPD_PATH];
    int nlog;
    conn *conns[HTTPD_CONNS];
    int nconns;
};

static route *find_route(httpd *s, const char *path) {
    for (int i = 0; i < s->nroutes; i++) {
        if (strcmp(s->routes[i].path, path) == 0) {
            return &s->routes[i];
        }
    }
    return NULL;
}

static int send_all(int fd, const void *data, size_t len) {
    const char *p = (const char *)data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* True when the peer closed the connection (or it failed). */
static int peer_gone(int fd) {
    struct pollfd p;
    char c;
    p.fd = fd;
    p.events = POLLIN;
    p.revents = 0;
    if (poll(&p, 1, 10) <= 0) {
        return 0;
    }
    if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) {
        return 1;
    }
    ssize_t n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR);
}

/* Reads the request head; returns its length or -1. */
static int read_head(httpd *s, int fd, char *buf, size_t size) {
    size_t used = 0;
    for (;;) {
        struct pollfd p;
        p.fd = fd;
        p.events = POLLIN;
        p.revents = 0;
        int r = poll(&p, 1, 50);
        pthread_mutex_lock(&s->lock);
        int stopping = s->stopping;
        pthread_mutex_unlock(&s->lock);
        if (stopping) {
            return -1;
        }
        if (r <= 0) {
            continue;
        }
        ssize_t n = recv(fd, buf + used, size - 1 - used, 0);
        if (n <= 0) {
            return -1;
        }
        used += (size_t)n;
        buf[used] = '\0';
        if (strstr(buf, "\r\n\r\n")) {
            return (int)used;
        }
        if (used + 1 >= size) {
            return -1;
        }
    }
}

static int64_t parse_range(const char *head) {
    const char *p = head;
    while ((p = strchr(p, '\n')) != NULL) {
        p++;
        if (strncasecmp(p, "range:", 6) == 0) {
            const char *v = p + 6;
            while (*v == ' ') {
                v++;
            }
            if (strncmp(v, "bytes=", 6) == 0) {
                return strtoll(v + 6, NULL, 10);
            }
        }
    }
    return -1;
}

static void answer(httpd *s, int fd) {
    char head[8192];
    char path[HTTPD_PATH];
    char out[1024];
    if (read_head(s, fd, head, sizeof head) < 0) {
        return;
    }
    if (sscanf(head, "%*s %255s", path) != 1) {
        return;
    }
    int64_t range = parse_range(head);

    pthread_mutex_lock(&s->lock);
    if (s->nlog < HTTPD_LOG) {
        snprintf(s->log[s->nlog++], HTTPD_PATH, "%s", path);
    }
    route *r = find_route(s, path);
    int status = r ? r->status : 404;
    uint64_t size = r ? r->size : 0;
    unsigned seed = r ? r->seed : 0;
    int stall = 0;
    uint64_t stall_at = 0;
    if (r) {
        r->requests++;
        r->last_range = range;
        if (r->stall_times > 0 && !r->released) {
            r->stall_times--;
            stall = 1;
            stall_at = r->stall_at;
        }
    }
    pthread_mutex_unlock(&s->lock);

    if (status != 200) {
        const char *text = status == 404 ? "Not Found" : "Error";
        char body[64];
        int blen = snprintf(body, sizeof body, "status %d\n", status);
        int n = snprintf(out, sizeof out,
                         "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                         "Connection: close\r\n\r\n%s",
                         status, text, blen, body);
        send_all(fd, out, (size_t)n);
        pthread_mutex_lock(&s->lock);
        if (r) {
            r->completed++;
        }
        pthread_mutex_unlock(&s->lock);
        return;
    }

    uint64_t start = 0;
    int n;
    if (range > 0 && (uint64_t)range < size) {
        start = (uint64_t)range;
        n = snprintf(out, sizeof out,
                     "HTTP/1.1 206 Partial Content\r\nContent-Length: %" PRIu64
                     "\r\nContent-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64
                     "\r\nETag: \"%u-%" PRIu64 "\"\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
                     size - start, start, size - 1, size, seed, size);
    } else if (range > 0) {
        n = snprintf(out, sizeof out,
                     "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nContent-Range: bytes */%" PRIu64
                     "\r\nETag: \"%u-%" PRIu64 "\"\r\nConnection: close\r\n\r\n",
                     size, seed, size);
        send_all(fd, out, (size_t)n);
        return;
    } else {
        n = snprintf(out, sizeof out,
                     "HTTP/1.1 200 OK\r\nContent-Length: %" PRIu64 "\r\nETag: \"%u-%" PRIu64
                     "\"\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n",
                     size, seed, size);
    }
    if (send_all(fd, out, (size_t)n) != 0) {
        goto aborted;
    }
    unsigned char chunk[16384];
    uint64_t pos = start;
    while (pos < size) {
        if (stall && pos >= stall_at) {
            int gone = 0, go = 0;
            pthread_mutex_lock(&s->lock);
            r->stalled++;
            pthread_mutex_unlock(&s->lock);
            while (!go && !gone) {
                gone = peer_gone(fd);
                pthread_mutex_lock(&s->lock);
                go = r->released || s->stopping;
                int stopping = s->stopping;
                pthread_mutex_unlock(&s->lock);
                if (stopping) {
                    gone = 1;
                }
            }
            pthread_mutex_lock(&s->lock);
            r->stalled--;
            pthread_mutex_unlock(&s->lock);
            stall = 0;
            if (gone) {
                goto aborted;
            }
        }
        uint64_t end = size;
        if (stall && stall_at < end) {
            end = stall_at;
        }
        size_t len = (size_t)(end - pos < sizeof chunk ? end - pos : sizeof chunk);
        for (size_t i = 0; i < len; i++) {
            chunk[i] = check_byte(seed, pos + i);
        }
        if (len > 0 && send_all(fd, chunk, len) != 0) {
            goto aborted;
        }
        pos += len;
    }
    pthread_mutex_lock(&s->lock);
    r->completed++;
    pthread_mutex_unlock(&s->lock);
    return;
aborted:
    pthread_mutex_lock(&s->lock);
    if (r) {
        r->aborted++;
    }
    pthread_mutex_unlock(&s->lock);
}

static void *conn_main(void *arg) {
    conn *c = (conn *)arg;
    answer(c->server, c->fd);
    shutdown(c->fd, SHUT_WR);
    /* Let the client read everything before the close (no RST over unread request bytes). */
    {
        char drain[512];
        struct pollfd p;
        p.fd = c->fd;
        p.events = POLLIN;
        p.revents = 0;
        int64_t until = check_now_ms() + 2000;
        while (check_now_ms() < until && poll(&p, 1, 20) >= 0) {
            if (p.revents) {
                if (recv(c->fd, drain, sizeof drain, MSG_DONTWAIT) <= 0) {
                    break;
                }
            }
            pthread_mutex_lock(&c->server->lock);
            int stopping = c->server->stopping;
            pthread_mutex_unlock(&c->server->lock);
            if (stopping) {
                break;
            }
        }
    }
    close(c->fd);
    pthread_mutex_lock(&c->server->lock);
    c->done = 1;
    pthread_mutex_unlock(&c->server->lock);
    return NULL;
}

/* Joins and frees the connection threads that have ended; the caller holds the lock. */
static void reap(httpd *s) {
    int kept = 0;
    for (int i = 0; i < s->nconns; i++) {
        conn *c = s->conns[i];
        if (c->done) {
            pthread_join(c->thread, NULL);
            free(c);
        } else {
            s->conns[kept++] = c;
        }
    }
    s->nconns = kept;
}

static void *accept_main(void *arg) {
    httpd *s = (httpd *)arg;
    for (;;) {
        int fd = accept(s->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            return NULL;
        }
        pthread_mutex_lock(&s->lock);
        reap(s);
        if (s->stopping || s->nconns >= HTTPD_CONNS) {
            pthread_mutex_unlock(&s->lock);
            close(fd);
            continue;
        }
        conn *c = (conn *)calloc(1, sizeof *c);
        c->fd = fd;
        c->server = s;
        if (pthread_create(&c->thread, NULL, conn_main, c) != 0) {
            pthread_mutex_unlock(&s->lock);
            close(fd);
            free(c);
            continue;
        }
        s->conns[s->nconns++] = c;
        pthread_mutex_unlock(&s->lock);
    }
}

httpd *httpd_start(void) {
    httpd *s = (httpd *)calloc(1, sizeof *s);
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    pthread_mutex_init(&s->lock, NULL);
    s->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (s->listen_fd < 0) {
        perror("httpd: socket");
        free(s);
        return NULL;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(s->listen_fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(s->listen_fd, 64) != 0 ||
        getsockname(s->listen_fd, (struct sockaddr *)&addr, &len) != 0) {
        perror("httpd: bind/listen");
        close(s->listen_fd);
        free(s);
        return NULL;
    }
    s->port = ntohs(addr.sin_port);
    if (pthread_create(&s->acceptor, NULL, accept_main, s) != 0) {
        close(s->listen_fd);
        free(s);
        return NULL;
    }
    return s;
}

void httpd_stop(httpd *s) {
    if (!s) {
        return;
    }
    pthread_mutex_lock(&s->lock);
    s->stopping = 1;
    pthread_mutex_unlock(&s->lock);
    shutdown(s->listen_fd, SHUT_RDWR);
    pthread_join(s->acceptor, NULL);
    close(s->listen_fd);
    for (int i = 0; i < s->nconns; i++) {
        pthread_join(s->conns[i]->thread, NULL);
        free(s->conns[i]);
    }
    pthread_mutex_destroy(&s->lock);
    free(s);
}

unsigned httpd_port(const httpd *s) {
    return s->port;
}

void httpd_url(const httpd *s, const char *path, char *out, size_t size) {
    snprintf(out, size, "http://127.0.0.1:%u%s", s->port, path);
}

void httpd_route(httpd *s, const char *path, int status, uint64_t size, unsigned seed) {
    pthread_mutex_lock(&s->lock);
    route *r = find_route(s, path);
    if (!r && s->nroutes < HTTPD_ROUTES) {
        r = &s->routes[s->nroutes++];
        memset(r, 0, sizeof *r);
        snprintf(r->path, sizeof r->path, "%s", path);
        r->last_range = -1;
    }
    if (r) {
        r->status = status;
        r->size = size;
        r->seed = seed;
    }
    pthread_mutex_unlock(&s->lock);
}

void httpd_stall(httpd *s, const char *path, uint64_t at, int times) {
    pthread_mutex_lock(&s->lock);
    route *r = find_route(s, path);
    if (r) {
        r->stall_at = at;
        r->stall_times = times;
        r->released = 0;
    }
    pthread_mutex_unlock(&s->lock);
}

void httpd_release(httpd *s, const char *path) {
    pthread_mutex_lock(&s->lock);
    route *r = find_route(s, path);
    if (r) {
        r->released = 1;
    }
    pthread_mutex_unlock(&s->lock);
}

int httpd_count(httpd *s, const char *path, const char *counter) {
    int v = -1;
    pthread_mutex_lock(&s->lock);
    route *r = find_route(s, path);
    if (r) {
        if (strcmp(counter, "requests") == 0) {
            v = r->requests;
        } else if (strcmp(counter, "stalled") == 0) {
            v = r->stalled;
        } else if (strcmp(counter, "aborted") == 0) {
            v = r->aborted;
        } else if (strcmp(counter, "completed") == 0) {
            v = r->completed;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return v;
}

int64_t httpd_last_range(httpd *s, const char *path) {
    int64_t v = -1;
    pthread_mutex_lock(&s->lock);
    route *r = find_route(s, path);
    if (r) {
        v = r->last_range;
    }
    pthread_mutex_unlock(&s->lock);
    return v;
}

int httpd_log_size(httpd *s) {
    pthread_mutex_lock(&s->lock);
    int n = s->nlog;
    pthread_mutex_unlock(&s->lock);
    return n;
}

void httpd_log_at(httpd *s, int i, char *out, size_t size) {
    pthread_mutex_lock(&s->lock);
    snprintf(out, size, "%s", i >= 0 && i < s->nlog ? s->log[i] : "");
    pthread_mutex_unlock(&s->lock);
}
