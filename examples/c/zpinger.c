/* zpinger in C on ryre's C ABI: joins GLOBAL, whispers "hello" to every peer that enters, prints
 * every event, and runs its loop on poll() over ryre_node_fd().
 *
 *   zpinger [--name N] [--interface IF] [--port P] [--count N] [--timeout-ms T]
 *
 * With --count N it exits 0 once N whispers have arrived, 1 when --timeout-ms passes first
 * (default: runs until interrupted). */
#include "ryre.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int fail(const char *what) {
    fprintf(stderr, "zpinger: %s: %s\n", what, ryre_last_error());
    return 2;
}

int main(int argc, char **argv) {
    const char *name = NULL, *iface = NULL;
    int port = 0, count = -1, timeout_ms = -1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) { fprintf(stderr, "zpinger: %s needs a value\n", a); return 2; }
        if (!strcmp(a, "--name")) name = v;
        else if (!strcmp(a, "--interface")) iface = v;
        else if (!strcmp(a, "--port")) port = atoi(v);
        else if (!strcmp(a, "--count")) count = atoi(v);
        else if (!strcmp(a, "--timeout-ms")) timeout_ms = atoi(v);
        else { fprintf(stderr, "zpinger: unknown option %s\n", a); return 2; }
        i++;
    }
    ryre_node_t *node = ryre_node_new(name);
    if (!node) return fail("new");
    if (iface && ryre_node_set_interface(node, iface) != RYRE_OK) return fail("interface");
    if (port && ryre_node_set_port(node, port) != RYRE_OK) return fail("port");
    if (ryre_node_set_interval(node, 100) != RYRE_OK) return fail("interval");
    if (ryre_node_start(node) != RYRE_OK) {
        int rc = fail("start");
        ryre_node_destroy(node);
        return rc;
    }
    if (ryre_node_join(node, "GLOBAL") != RYRE_OK) return fail("join");
    printf("%s %s started\n", ryre_node_name(node), ryre_node_uuid(node));
    fflush(stdout);

    int fd = ryre_node_fd(node);
    if (fd < 0) return fail("fd");
    long long end = timeout_ms >= 0 ? now_ms() + timeout_ms : -1;
    int got = 0, rc = 1;
    while (count < 0 || got < count) {
        int wait = end < 0 ? -1 : (int)(end - now_ms());
        if (end >= 0 && wait <= 0) break;
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, wait) <= 0) continue;
        ryre_event_t *ev;
        while ((ev = ryre_node_recv(node, 0)) != NULL) {
            int type = ryre_event_type(ev);
            printf("%s %s", ryre_event_type_name(type), ryre_event_peer_name(ev));
            if (type == RYRE_EVENT_ENTER) {
                const uint8_t hello[] = "hello";
                if (ryre_node_whisper(node, ryre_event_peer_uuid(ev), hello, 5) != RYRE_OK)
                    fprintf(stderr, "zpinger: whisper: %s\n", ryre_last_error());
            } else if (type == RYRE_EVENT_WHISPER || type == RYRE_EVENT_SHOUT) {
                size_t len = 0;
                const uint8_t *f = ryre_event_frame(ev, 0, &len);
                printf(" %.*s", (int)len, (const char *)f);
                if (type == RYRE_EVENT_WHISPER) got++;
            }
            printf("\n");
            ryre_event_free(ev);
        }
        fflush(stdout);
    }
    if (count >= 0 && got >= count) rc = 0;
    ryre_node_destroy(node);
    return rc;
}
