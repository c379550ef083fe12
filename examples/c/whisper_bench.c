/* Whisper throughput at 16 bytes from C (the same rounds as crates/ryre-ffi/examples/
 * whisper_rust.rs): alice whispers rounds of 1000 messages to bob, bob takes each round before
 * the next. Prints "whisper16 c <messages> <seconds> <messages/s>".
 *   whisper_bench [messages]   (default 100000) */
#include "ryre.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static ryre_node_t *start(const char *name, int port) {
    ryre_node_t *n = ryre_node_new(name);
    if (!n || ryre_node_set_interface(n, "lo") || ryre_node_set_port(n, port) ||
        ryre_node_set_interval(n, 100) || ryre_node_start(n)) {
        fprintf(stderr, "whisper_bench: %s: %s\n", name, ryre_last_error());
        exit(1);
    }
    return n;
}

static void wait_enter(ryre_node_t *n, char *uuid_out) {
    for (;;) {
        ryre_event_t *ev = ryre_node_recv(n, 10000);
        if (!ev) { fprintf(stderr, "whisper_bench: no peer: %s\n", ryre_last_error()); exit(1); }
        int enter = ryre_event_type(ev) == RYRE_EVENT_ENTER;
        if (enter && uuid_out) snprintf(uuid_out, 33, "%s", ryre_event_peer_uuid(ev));
        ryre_event_free(ev);
        if (enter) return;
    }
}

int main(int argc, char **argv) {
    long total = argc > 1 ? atol(argv[1]) : 100000;
    int port = ryre_private_port();
    ryre_node_t *alice = start("alice", port), *bob = start("bob", port);
    char bob_id[33];
    wait_enter(alice, bob_id);
    wait_enter(bob, NULL);
    uint8_t payload[16];
    memset(payload, 0x5a, sizeof payload);
    double t0 = now_s();
    long got = 0;
    while (got < total) {
        long round = total - got < 1000 ? total - got : 1000;
        for (long i = 0; i < round; i++) {
            if (ryre_node_whisper(alice, bob_id, payload, 16)) {
                fprintf(stderr, "whisper_bench: %s\n", ryre_last_error());
                return 1;
            }
        }
        for (long n = 0; n < round;) {
            ryre_event_t *ev = ryre_node_recv(bob, 10000);
            if (!ev) { fprintf(stderr, "whisper_bench: stalled: %s\n", ryre_last_error()); return 1; }
            size_t len = 0;
            if (ryre_event_type(ev) == RYRE_EVENT_WHISPER && ryre_event_frame(ev, 0, &len) && len == 16)
                n++;
            ryre_event_free(ev);
        }
        got += round;
    }
    double secs = now_s() - t0;
    printf("whisper16 c %ld %.3f %.0f\n", total, secs, total / secs);
    ryre_node_destroy(alice);
    ryre_node_destroy(bob);
    return 0;
}
