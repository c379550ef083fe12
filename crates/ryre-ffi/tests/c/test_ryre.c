/* The C ABI, every function, from C: success paths with two real nodes on loopback, every error
 * path and NULL argument. Run under valgrind memcheck by scripts/test-bindings.sh.
 * Prints a closing line "N passed, N failed"; exits 1 when anything failed. */
#include "ryre.h"

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int passed = 0, failed = 0;

#define CHECK(cond)                                                                      \
    do {                                                                                 \
        if (cond) {                                                                      \
            passed++;                                                                    \
        } else {                                                                         \
            failed++;                                                                    \
            fprintf(stderr, "FAIL %s:%d: %s (last error %d: %s)\n", __FILE__, __LINE__, \
                    #cond, ryre_last_error_code(), ryre_last_error());                   \
        }                                                                                \
    } while (0)

/* A call failed with this code, and the message says something. */
#define FAILS_WITH(expr, code) \
    CHECK((expr) == (code) && ryre_last_error_code() == (code) && strlen(ryre_last_error()) > 0)
#define NULL_WITH(expr, code) \
    CHECK((expr) == NULL && ryre_last_error_code() == (code) && strlen(ryre_last_error()) > 0)

static long long now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The next event of `type` within `timeout_ms` (others are dropped), or NULL. */
static ryre_event_t *wait_for(ryre_node_t *node, int type, int timeout_ms) {
    long long end = now_ms() + timeout_ms;
    while (now_ms() < end) {
        ryre_event_t *ev = ryre_node_recv(node, (int)(end - now_ms()));
        if (!ev) continue;
        if (ryre_event_type(ev) == type) return ev;
        ryre_event_free(ev);
    }
    fprintf(stderr, "no %s within %d ms\n", ryre_event_type_name(type), timeout_ms);
    return NULL;
}

static ryre_node_t *make(const char *name, int port) {
    ryre_node_t *n = ryre_node_new(name);
    CHECK(n != NULL);
    CHECK(ryre_node_set_interface(n, "lo") == RYRE_OK);
    CHECK(ryre_node_set_port(n, port) == RYRE_OK);
    CHECK(ryre_node_set_interval(n, 100) == RYRE_OK);
    return n;
}

static void test_statics(void) {
    CHECK(strcmp(ryre_version(), "0.1.0") == 0);
    int port = ryre_private_port();
    CHECK(port > 1024 && port <= 65535);
    CHECK(strcmp(ryre_event_type_name(RYRE_EVENT_ENTER), "ENTER") == 0);
    CHECK(strcmp(ryre_event_type_name(RYRE_EVENT_STOP), "STOP") == 0);
    NULL_WITH(ryre_event_type_name(0), RYRE_ERR_RANGE);
    NULL_WITH(ryre_event_type_name(11), RYRE_ERR_RANGE);
    /* frees of NULL are no-ops */
    ryre_string_free(NULL);
    ryre_list_free(NULL);
    ryre_event_free(NULL);
    ryre_node_destroy(NULL);
    CHECK(ryre_list_size(NULL) == 0);
    NULL_WITH(ryre_list_item(NULL, 0), RYRE_ERR_NULL);
}

static void test_null_node(void) {
    const uint8_t b = 1;
    const uint8_t *fr[1] = {&b};
    size_t lens[1] = {1};
    FAILS_WITH(ryre_node_set_header(NULL, "k", "v"), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_interface(NULL, "lo"), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_port(NULL, 5670), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_interval(NULL, 100), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_evasive_timeout(NULL, 100), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_expired_timeout(NULL, 100), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_stop_flush(NULL, 100), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_endpoint(NULL, "tcp://127.0.0.1:*"), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_discovery(NULL, "off"), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_beacon(NULL, false), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_rendezvous_port(NULL, 5670), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_rendezvous_path(NULL, "/tmp/x"), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_agent(NULL, true), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_verbose(NULL, false), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_send_hwm(NULL, 10), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_ipv6(NULL, true), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_dual_stack(NULL, true), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_gossip_bind(NULL, "tcp://[::1]:*"), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_gossip_connect(NULL, "tcp://[::1]:1"), RYRE_ERR_NULL);
    NULL_WITH(ryre_node_gossip_endpoint(NULL), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_start(NULL), RYRE_ERR_NULL);
    NULL_WITH(ryre_node_uuid(NULL), RYRE_ERR_NULL);
    NULL_WITH(ryre_node_name(NULL), RYRE_ERR_NULL);
    NULL_WITH(ryre_node_endpoint(NULL), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_join(NULL, "g"), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_leave(NULL, "g"), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_contest_in_group(NULL, "g"), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_shout(NULL, "g", &b, 1), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_shout_frames(NULL, "g", fr, lens, 1), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_whisper(NULL, "00000000000000000000000000000000", &b, 1), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_whisper_frames(NULL, "00000000000000000000000000000000", fr, lens, 1),
               RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_connect_peer(NULL, "00000000000000000000000000000000", "tcp://x:1"),
               RYRE_ERR_NULL);
    NULL_WITH(ryre_node_recv(NULL, 0), RYRE_ERR_NULL);
    CHECK(ryre_node_fd(NULL) == -1 && ryre_last_error_code() == RYRE_ERR_NULL);
    NULL_WITH(ryre_node_peers(NULL), RYRE_ERR_NULL);
    NULL_WITH(ryre_node_peers_by_group(NULL, "g"), RYRE_ERR_NULL);
    NULL_WITH(ryre_node_own_groups(NULL), RYRE_ERR_NULL);
    NULL_WITH(ryre_node_peer_groups(NULL), RYRE_ERR_NULL);
    NULL_WITH(ryre_node_peer_name(NULL, "00000000000000000000000000000000"), RYRE_ERR_NULL);
    NULL_WITH(ryre_node_peer_address(NULL, "00000000000000000000000000000000"), RYRE_ERR_NULL);
    NULL_WITH(ryre_node_peer_header(NULL, "00000000000000000000000000000000", "k"), RYRE_ERR_NULL);
    NULL_WITH(ryre_node_leader(NULL, "g"), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_stop(NULL), RYRE_ERR_NULL);
    /* events */
    size_t len = 0;
    const char *k = NULL, *v = NULL;
    FAILS_WITH(ryre_event_type(NULL), RYRE_ERR_NULL);
    NULL_WITH(ryre_event_peer_uuid(NULL), RYRE_ERR_NULL);
    NULL_WITH(ryre_event_peer_name(NULL), RYRE_ERR_NULL);
    NULL_WITH(ryre_event_group(NULL), RYRE_ERR_NULL);
    NULL_WITH(ryre_event_endpoint(NULL), RYRE_ERR_NULL);
    NULL_WITH(ryre_event_exit_reason(NULL), RYRE_ERR_NULL);
    CHECK(ryre_event_frame_count(NULL) == 0);
    NULL_WITH(ryre_event_frame(NULL, 0, &len), RYRE_ERR_NULL);
    NULL_WITH(ryre_event_header(NULL, "k"), RYRE_ERR_NULL);
    CHECK(ryre_event_header_count(NULL) == 0);
    FAILS_WITH(ryre_event_header_at(NULL, 0, &k, &v), RYRE_ERR_NULL);
}

static void test_settings(int port) {
    /* bad UTF-8 */
    NULL_WITH(ryre_node_new("\xff\xfe"), RYRE_ERR_UTF8);
    ryre_node_t *n = ryre_node_new(NULL); /* default name */
    CHECK(n != NULL);
    FAILS_WITH(ryre_node_set_header(n, NULL, "v"), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_header(n, "k", NULL), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_header(n, "k", "\xc3"), RYRE_ERR_UTF8);
    CHECK(ryre_node_set_header(n, "X-TEST", "yes") == RYRE_OK);
    FAILS_WITH(ryre_node_set_interface(n, NULL), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_port(n, 0), RYRE_ERR_INVALID);
    FAILS_WITH(ryre_node_set_port(n, 65536), RYRE_ERR_INVALID);
    FAILS_WITH(ryre_node_set_port(n, -1), RYRE_ERR_INVALID);
    FAILS_WITH(ryre_node_set_interval(n, -5), RYRE_ERR_INVALID);
    FAILS_WITH(ryre_node_set_evasive_timeout(n, -1), RYRE_ERR_INVALID);
    FAILS_WITH(ryre_node_set_expired_timeout(n, -1), RYRE_ERR_INVALID);
    FAILS_WITH(ryre_node_set_stop_flush(n, -1), RYRE_ERR_INVALID);
    FAILS_WITH(ryre_node_set_endpoint(n, NULL), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_discovery(n, "carrier-pigeon"), RYRE_ERR_INVALID);
    FAILS_WITH(ryre_node_set_discovery(n, NULL), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_rendezvous_port(n, 0), RYRE_ERR_INVALID);
    FAILS_WITH(ryre_node_set_rendezvous_path(n, NULL), RYRE_ERR_NULL);
    CHECK(ryre_node_set_discovery(n, "beacon") == RYRE_OK);
    CHECK(ryre_node_set_beacon(n, true) == RYRE_OK); /* back to auto */
    CHECK(ryre_node_set_rendezvous_port(n, port) == RYRE_OK);
    CHECK(ryre_node_set_rendezvous_path(n, "/tmp/ryre-ffi-unused.sock") == RYRE_OK);
    CHECK(ryre_node_set_rendezvous_port(n, port) == RYRE_OK); /* TCP again */
    CHECK(ryre_node_set_agent(n, true) == RYRE_OK);
    CHECK(ryre_node_set_verbose(n, false) == RYRE_OK);
    CHECK(ryre_node_set_evasive_timeout(n, 5000) == RYRE_OK);
    CHECK(ryre_node_set_expired_timeout(n, 30000) == RYRE_OK);
    CHECK(ryre_node_set_stop_flush(n, 500) == RYRE_OK);
    CHECK(ryre_node_set_send_hwm(n, 1000) == RYRE_OK);
    CHECK(ryre_node_set_port(n, port) == RYRE_OK);
    CHECK(ryre_node_set_endpoint(n, "tcp://127.0.0.1:*") == RYRE_OK);

    /* commands before start */
    FAILS_WITH(ryre_node_join(n, "g"), RYRE_ERR_STATE);
    NULL_WITH(ryre_node_recv(n, 0), RYRE_ERR_STATE);
    NULL_WITH(ryre_node_uuid(n), RYRE_ERR_STATE);
    NULL_WITH(ryre_node_peers(n), RYRE_ERR_STATE);
    CHECK(ryre_node_fd(n) == -1 && ryre_last_error_code() == RYRE_ERR_STATE);
    FAILS_WITH(ryre_node_stop(n), RYRE_ERR_STATE);

    /* start-time checks keep the settings: fix and start again */
    CHECK(ryre_node_set_interval(n, 0) == RYRE_OK);
    FAILS_WITH(ryre_node_start(n), RYRE_ERR_INVALID);
    CHECK(ryre_node_set_send_hwm(n, 0) == RYRE_OK);
    CHECK(ryre_node_set_interval(n, 100) == RYRE_OK);
    FAILS_WITH(ryre_node_start(n), RYRE_ERR_INVALID);
    CHECK(ryre_node_set_send_hwm(n, 1000) == RYRE_OK);
    CHECK(ryre_node_set_interface(n, "no-such-if0") == RYRE_OK);
    FAILS_WITH(ryre_node_start(n), RYRE_ERR_NETWORK);
    CHECK(ryre_node_set_interface(n, "lo") == RYRE_OK);
    CHECK(ryre_node_set_discovery(n, "off") == RYRE_OK);
    CHECK(ryre_node_start(n) == RYRE_OK);
    CHECK(strlen(ryre_node_uuid(n)) == 32);
    CHECK(strlen(ryre_node_name(n)) == 6); /* default: 6 hex digits */
    CHECK(strncmp(ryre_node_name(n), ryre_node_uuid(n), 6) == 0);
    CHECK(strncmp(ryre_node_endpoint(n), "tcp://127.0.0.1:", 16) == 0);

    /* after start */
    FAILS_WITH(ryre_node_start(n), RYRE_ERR_STATE);
    FAILS_WITH(ryre_node_set_port(n, port), RYRE_ERR_STATE);
    FAILS_WITH(ryre_node_set_header(n, "k", "v"), RYRE_ERR_STATE);
    ryre_node_destroy(n); /* destroy stops a running node */

    /* a name past ZRE's 255 bytes fails at start */
    char longname[301];
    memset(longname, 'x', 300);
    longname[300] = 0;
    n = ryre_node_new(longname);
    CHECK(n != NULL);
    CHECK(ryre_node_set_discovery(n, "off") == RYRE_OK);
    FAILS_WITH(ryre_node_start(n), RYRE_ERR_INVALID);
    CHECK(strstr(ryre_last_error(), "255") != NULL);
    ryre_node_destroy(n); /* never started */
}

static int stop_rc = 1;

static void *stop_later(void *arg) {
    /* the stop must end the main thread's recv(-1) whether it comes before or during it */
    stop_rc = ryre_node_stop((ryre_node_t *)arg);
    return NULL;
}

struct sender {
    ryre_node_t *node;
    const char *peer;
    int sent;
};

static void *send_many(void *arg) {
    struct sender *s = arg;
    for (int i = 0; i < 100; i++)
        if (ryre_node_whisper(s->node, s->peer, (const uint8_t *)"many", 4) == RYRE_OK) s->sent++;
    return NULL;
}

/* Four threads whisper through one node at once while this thread takes the events. */
static void test_threads(ryre_node_t *from, ryre_node_t *to, const char *to_uuid) {
    pthread_t t[4];
    struct sender s[4];
    for (int i = 0; i < 4; i++) {
        s[i] = (struct sender){from, to_uuid, 0};
        CHECK(pthread_create(&t[i], NULL, send_many, &s[i]) == 0);
    }
    int got = 0;
    while (got < 400) {
        ryre_event_t *ev = wait_for(to, RYRE_EVENT_WHISPER, 10000);
        if (!ev) break;
        size_t len = 0;
        const uint8_t *f = ryre_event_frame(ev, 0, &len);
        if (len == 4 && memcmp(f, "many", 4) == 0) got++;
        ryre_event_free(ev);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK(s[i].sent == 100);
    }
    CHECK(got == 400);
}

static void test_two_nodes(int port) {
    ryre_node_t *a = make("alice", port);
    ryre_node_t *b = make("bob", port);
    CHECK(ryre_node_set_header(a, "X-ROLE", "sender") == RYRE_OK);
    CHECK(ryre_node_start(a) == RYRE_OK);
    CHECK(ryre_node_start(b) == RYRE_OK);
    char auuid[33], buuid[33];
    snprintf(auuid, sizeof auuid, "%s", ryre_node_uuid(a));
    snprintf(buuid, sizeof buuid, "%s", ryre_node_uuid(b));
    CHECK(strcmp(ryre_node_name(a), "alice") == 0);

    /* ENTER: name, endpoint, headers */
    ryre_event_t *ev = wait_for(b, RYRE_EVENT_ENTER, 10000);
    CHECK(ev != NULL);
    if (ev) {
        CHECK(strcmp(ryre_event_peer_uuid(ev), auuid) == 0);
        CHECK(strcmp(ryre_event_peer_name(ev), "alice") == 0);
        CHECK(strcmp(ryre_event_endpoint(ev), ryre_node_endpoint(a)) == 0);
        CHECK(ryre_event_group(ev) == NULL);
        CHECK(ryre_event_exit_reason(ev) == NULL);
        CHECK(strcmp(ryre_event_header(ev, "X-ROLE"), "sender") == 0);
        CHECK(ryre_event_header(ev, "X-NONE") == NULL);
        NULL_WITH(ryre_event_header(ev, NULL), RYRE_ERR_NULL);
        CHECK(ryre_event_header_count(ev) == 1);
        const char *k = NULL, *v = NULL;
        CHECK(ryre_event_header_at(ev, 0, &k, &v) == RYRE_OK);
        CHECK(k && v && strcmp(k, "X-ROLE") == 0 && strcmp(v, "sender") == 0);
        FAILS_WITH(ryre_event_header_at(ev, 1, &k, &v), RYRE_ERR_RANGE);
        FAILS_WITH(ryre_event_header_at(ev, 0, NULL, &v), RYRE_ERR_NULL);
        FAILS_WITH(ryre_event_header_at(ev, 0, &k, NULL), RYRE_ERR_NULL);
        CHECK(ryre_event_frame_count(ev) == 0);
        size_t len;
        NULL_WITH(ryre_event_frame(ev, 0, &len), RYRE_ERR_RANGE);
        ryre_event_free(ev);
    }
    ev = wait_for(a, RYRE_EVENT_ENTER, 10000);
    CHECK(ev != NULL);
    ryre_event_free(ev);

    /* peer queries */
    ryre_list_t *l = ryre_node_peers(b);
    CHECK(ryre_list_size(l) == 1);
    CHECK(l && strcmp(ryre_list_item(l, 0), auuid) == 0);
    NULL_WITH(ryre_list_item(l, 1), RYRE_ERR_RANGE);
    ryre_list_free(l);
    char *s = ryre_node_peer_name(b, auuid);
    CHECK(s && strcmp(s, "alice") == 0);
    ryre_string_free(s);
    s = ryre_node_peer_address(b, auuid);
    CHECK(s && strcmp(s, ryre_node_endpoint(a)) == 0);
    ryre_string_free(s);
    s = ryre_node_peer_header(b, auuid, "X-ROLE");
    CHECK(s && strcmp(s, "sender") == 0);
    ryre_string_free(s);
    NULL_WITH(ryre_node_peer_header(b, auuid, "X-NONE"), RYRE_ERR_UNKNOWN_PEER);
    NULL_WITH(ryre_node_peer_header(b, auuid, NULL), RYRE_ERR_NULL);
    NULL_WITH(ryre_node_peer_name(b, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"), RYRE_ERR_UNKNOWN_PEER);
    NULL_WITH(ryre_node_peer_address(b, "not-a-uuid"), RYRE_ERR_UUID);
    NULL_WITH(ryre_node_peer_name(b, NULL), RYRE_ERR_NULL);
    NULL_WITH(ryre_node_peer_address(b, NULL), RYRE_ERR_NULL);

    /* join, JOIN, groups */
    FAILS_WITH(ryre_node_join(a, NULL), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_join(a, "\xff"), RYRE_ERR_UTF8);
    char longgroup[300];
    memset(longgroup, 'g', 299);
    longgroup[299] = 0;
    FAILS_WITH(ryre_node_join(a, longgroup), RYRE_ERR_INVALID);
    CHECK(ryre_node_join(a, "chat") == RYRE_OK);
    CHECK(ryre_node_join(b, "chat") == RYRE_OK);
    ev = wait_for(b, RYRE_EVENT_JOIN, 10000);
    CHECK(ev && strcmp(ryre_event_group(ev), "chat") == 0 &&
          strcmp(ryre_event_peer_name(ev), "alice") == 0);
    ryre_event_free(ev);
    ev = wait_for(a, RYRE_EVENT_JOIN, 10000);
    CHECK(ev != NULL);
    ryre_event_free(ev);
    l = ryre_node_own_groups(a);
    CHECK(ryre_list_size(l) == 1 && strcmp(ryre_list_item(l, 0), "chat") == 0);
    ryre_list_free(l);
    l = ryre_node_peer_groups(b);
    CHECK(ryre_list_size(l) == 1 && strcmp(ryre_list_item(l, 0), "chat") == 0);
    ryre_list_free(l);
    l = ryre_node_peers_by_group(b, "chat");
    CHECK(ryre_list_size(l) == 1 && strcmp(ryre_list_item(l, 0), auuid) == 0);
    ryre_list_free(l);
    NULL_WITH(ryre_node_peers_by_group(b, NULL), RYRE_ERR_NULL);

    /* shout: one frame, several frames, an empty frame */
    FAILS_WITH(ryre_node_shout(a, NULL, (const uint8_t *)"x", 1), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_shout(a, "chat", NULL, 3), RYRE_ERR_NULL);
    CHECK(ryre_node_shout(a, "chat", (const uint8_t *)"hello", 5) == RYRE_OK);
    ev = wait_for(b, RYRE_EVENT_SHOUT, 10000);
    CHECK(ev != NULL);
    if (ev) {
        size_t len = 0;
        const uint8_t *f = ryre_event_frame(ev, 0, &len);
        CHECK(ryre_event_frame_count(ev) == 1 && len == 5 && memcmp(f, "hello", 5) == 0);
        CHECK(strcmp(ryre_event_group(ev), "chat") == 0);
        CHECK(strcmp(ryre_event_peer_uuid(ev), auuid) == 0);
        NULL_WITH(ryre_event_frame(ev, 0, NULL), RYRE_ERR_NULL);
        ryre_event_free(ev);
    }
    const uint8_t *frames[3] = {(const uint8_t *)"one", (const uint8_t *)"", (const uint8_t *)"three"};
    size_t lens[3] = {3, 0, 5};
    FAILS_WITH(ryre_node_shout_frames(a, "chat", frames, lens, 0), RYRE_ERR_INVALID);
    FAILS_WITH(ryre_node_shout_frames(a, "chat", NULL, lens, 3), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_shout_frames(a, "chat", frames, NULL, 3), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_shout_frames(a, NULL, frames, lens, 3), RYRE_ERR_NULL);
    CHECK(ryre_node_shout_frames(a, "chat", frames, lens, 3) == RYRE_OK);
    ev = wait_for(b, RYRE_EVENT_SHOUT, 10000);
    CHECK(ev != NULL);
    if (ev) {
        size_t len = 99;
        CHECK(ryre_event_frame_count(ev) == 3);
        const uint8_t *f = ryre_event_frame(ev, 1, &len);
        CHECK(f != NULL && len == 0);
        f = ryre_event_frame(ev, 2, &len);
        CHECK(len == 5 && memcmp(f, "three", 5) == 0);
        NULL_WITH(ryre_event_frame(ev, 3, &len), RYRE_ERR_RANGE);
        ryre_event_free(ev);
    }

    /* whisper, then the pollable fd */
    FAILS_WITH(ryre_node_whisper(b, "nope", (const uint8_t *)"x", 1), RYRE_ERR_UUID);
    FAILS_WITH(ryre_node_whisper(b, NULL, (const uint8_t *)"x", 1), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_whisper(b, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF", (const uint8_t *)"x", 1),
               RYRE_ERR_UNKNOWN_PEER);
    FAILS_WITH(ryre_node_whisper(b, auuid, NULL, 1), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_whisper_frames(b, auuid, frames, lens, 0), RYRE_ERR_INVALID);
    FAILS_WITH(ryre_node_whisper_frames(b, "zz", frames, lens, 3), RYRE_ERR_UUID);
    int fd = ryre_node_fd(a);
    CHECK(fd >= 0);
    CHECK(ryre_node_fd(a) == fd);
    NULL_WITH(ryre_node_recv(a, 0), RYRE_ERR_TIMEOUT);
    struct pollfd p = {fd, POLLIN, 0};
    CHECK(poll(&p, 1, 0) == 0); /* nothing waiting */
    CHECK(ryre_node_whisper(b, auuid, (const uint8_t *)"psst", 4) == RYRE_OK);
    CHECK(ryre_node_whisper_frames(b, auuid, frames, lens, 3) == RYRE_OK);
    CHECK(poll(&p, 1, 10000) == 1 && (p.revents & POLLIN));
    ev = ryre_node_recv(a, 0); /* readable promises an event */
    CHECK(ev && ryre_event_type(ev) == RYRE_EVENT_WHISPER);
    if (ev) {
        size_t len = 0;
        const uint8_t *f = ryre_event_frame(ev, 0, &len);
        CHECK(len == 4 && memcmp(f, "psst", 4) == 0);
        CHECK(strcmp(ryre_event_peer_name(ev), "bob") == 0);
        CHECK(ryre_event_group(ev) == NULL);
        ryre_event_free(ev);
    }
    ev = ryre_node_recv(a, 10000);
    CHECK(ev && ryre_event_type(ev) == RYRE_EVENT_WHISPER && ryre_event_frame_count(ev) == 3);
    ryre_event_free(ev);
    p.revents = 0;
    CHECK(poll(&p, 1, 0) == 0); /* drained: not readable */

    test_threads(b, a, auuid);

    /* elections */
    NULL_WITH(ryre_node_leader(a, "vote"), RYRE_ERR_UNKNOWN_PEER);
    NULL_WITH(ryre_node_leader(a, NULL), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_contest_in_group(a, NULL), RYRE_ERR_NULL);
    CHECK(ryre_node_contest_in_group(a, "vote") == RYRE_OK);
    CHECK(ryre_node_contest_in_group(b, "vote") == RYRE_OK);
    CHECK(ryre_node_join(a, "vote") == RYRE_OK);
    CHECK(ryre_node_join(b, "vote") == RYRE_OK);
    ev = wait_for(b, RYRE_EVENT_LEADER, 10000);
    CHECK(ev && strcmp(ryre_event_group(ev), "vote") == 0);
    if (ev) {
        s = ryre_node_leader(b, "vote");
        CHECK(s && strcmp(s, ryre_event_peer_uuid(ev)) == 0);
        ryre_string_free(s);
    }
    ryre_event_free(ev);

    /* leave */
    FAILS_WITH(ryre_node_leave(a, NULL), RYRE_ERR_NULL);
    CHECK(ryre_node_leave(a, "chat") == RYRE_OK);
    ev = wait_for(b, RYRE_EVENT_LEAVE, 10000);
    CHECK(ev && strcmp(ryre_event_group(ev), "chat") == 0);
    ryre_event_free(ev);

    /* connect_peer: argument checks (the peer is known already) */
    FAILS_WITH(ryre_node_connect_peer(b, "bad", "tcp://127.0.0.1:1"), RYRE_ERR_UUID);
    FAILS_WITH(ryre_node_connect_peer(b, auuid, NULL), RYRE_ERR_NULL);
    /* connect_peer: a node without discovery introduces itself to bob */
    ryre_node_t *c = ryre_node_new("carol");
    CHECK(ryre_node_set_discovery(c, "off") == RYRE_OK);
    CHECK(ryre_node_set_endpoint(c, "tcp://127.0.0.1:*") == RYRE_OK);
    CHECK(ryre_node_start(c) == RYRE_OK);
    CHECK(ryre_node_connect_peer(c, buuid, ryre_node_endpoint(b)) == RYRE_OK);
    ev = wait_for(b, RYRE_EVENT_ENTER, 10000);
    CHECK(ev && strcmp(ryre_event_peer_name(ev), "carol") == 0);
    ryre_event_free(ev);
    ryre_node_destroy(c); /* without discovery no leaving beacon: bob would see EXIT on expiry */

    /* stop alice from another thread while this one waits for ever: bob sees EXIT */
    pthread_t t;
    pthread_create(&t, NULL, stop_later, a);
    for (;;) { /* alice's remaining events, then STOP, then NULL */
        ev = ryre_node_recv(a, -1);
        if (!ev) break;
        int type = ryre_event_type(ev);
        ryre_event_free(ev);
        if (type == RYRE_EVENT_STOP) {
            ev = ryre_node_recv(a, -1);
            CHECK(ev == NULL);
            break;
        }
    }
    CHECK(ryre_last_error_code() == RYRE_ERR_STOPPED);
    pthread_join(t, NULL);
    CHECK(stop_rc == RYRE_OK);
    CHECK(ryre_node_stop(a) == RYRE_OK); /* again: nothing */
    FAILS_WITH(ryre_node_join(a, "g"), RYRE_ERR_STOPPED);
    FAILS_WITH(ryre_node_shout(a, "g", (const uint8_t *)"x", 1), RYRE_ERR_STOPPED);
    ev = wait_for(b, RYRE_EVENT_EXIT, 10000);
    CHECK(ev && strcmp(ryre_event_peer_uuid(ev), auuid) == 0 && ryre_event_exit_reason(ev) &&
          strlen(ryre_event_exit_reason(ev)) > 0);
    ryre_event_free(ev);
    FAILS_WITH(ryre_node_whisper(b, auuid, (const uint8_t *)"x", 1), RYRE_ERR_UNKNOWN_PEER);

    ryre_node_destroy(a);
    /* bob is destroyed running, with events still queued */
    CHECK(ryre_node_shout(b, "chat", (const uint8_t *)"bye", 3) == RYRE_OK);
    ryre_node_destroy(b);
}

/* IPv6 over loopback (::1): a gossip hub at tcp://[::1]:*, two nodes meeting through it (loopback
 * takes no IPv6 multicast, so no beacons), a whisper. Skipped (counted as passed) without ::1. */
static void test_ipv6(void) {
    ryre_node_t *hub = ryre_node_new("hub6");
    CHECK(ryre_node_set_interface(hub, "lo") == RYRE_OK);
    CHECK(ryre_node_set_ipv6(hub, true) == RYRE_OK);
    CHECK(ryre_node_gossip_bind(hub, "tcp://[::1]:*") == RYRE_OK);
    if (ryre_node_start(hub) != RYRE_OK) {
        printf("SKIP: no IPv6 on lo here (%s)\n", ryre_last_error());
        ryre_node_destroy(hub);
        return;
    }
    const char *gossip = ryre_node_gossip_endpoint(hub);
    CHECK(gossip != NULL && strncmp(gossip, "tcp://[::1]:", 12) == 0);
    CHECK(strncmp(ryre_node_endpoint(hub), "tcp://[::1]:", 12) == 0);
    ryre_node_t *v[2];
    const char *names[2] = {"v6a", "v6b"};
    for (int i = 0; i < 2; i++) {
        v[i] = ryre_node_new(names[i]);
        CHECK(ryre_node_set_interface(v[i], "lo") == RYRE_OK);
        CHECK(ryre_node_set_ipv6(v[i], true) == RYRE_OK);
        CHECK(ryre_node_gossip_connect(v[i], gossip) == RYRE_OK);
        CHECK(ryre_node_start(v[i]) == RYRE_OK);
        CHECK(ryre_node_gossip_endpoint(v[i]) == NULL); /* no hub */
        CHECK(strncmp(ryre_node_endpoint(v[i]), "tcp://[::1]:", 12) == 0);
    }
    /* each meets the other (and the hub) */
    for (int i = 0; i < 2; i++) {
        const char *other = ryre_node_uuid(v[1 - i]);
        long long end = now_ms() + 10000;
        int met = 0;
        while (!met && now_ms() < end) {
            ryre_event_t *ev = wait_for(v[i], RYRE_EVENT_ENTER, (int)(end - now_ms()));
            if (!ev) break;
            met = strcmp(ryre_event_peer_uuid(ev), other) == 0;
            if (met) CHECK(strncmp(ryre_event_endpoint(ev), "tcp://[::1]:", 12) == 0);
            ryre_event_free(ev);
        }
        CHECK(met);
    }
    CHECK(ryre_node_whisper(v[0], ryre_node_uuid(v[1]), (const uint8_t *)"v6", 2) == RYRE_OK);
    ryre_event_t *ev = wait_for(v[1], RYRE_EVENT_WHISPER, 10000);
    CHECK(ev != NULL);
    if (ev) {
        size_t len = 0;
        const uint8_t *f = ryre_event_frame(ev, 0, &len);
        CHECK(f != NULL && len == 2 && memcmp(f, "v6", 2) == 0);
        ryre_event_free(ev);
    }
    /* a dual-stack node (IPv4 and IPv6 on lo) announces its IPv4 endpoint */
    ryre_node_t *both = ryre_node_new("both");
    CHECK(ryre_node_set_interface(both, "lo") == RYRE_OK);
    CHECK(ryre_node_set_dual_stack(both, true) == RYRE_OK);
    CHECK(ryre_node_set_discovery(both, "off") == RYRE_OK);
    CHECK(ryre_node_start(both) == RYRE_OK);
    CHECK(strncmp(ryre_node_endpoint(both), "tcp://127.0.0.1:", 16) == 0);
    ryre_node_destroy(both);
    for (int i = 0; i < 2; i++) ryre_node_destroy(v[i]);
    ryre_node_destroy(hub);
}

/* Certified mode under valgrind: every CURVE handshake and Ed25519 check runs 20-50 times
 * slower and the nodes' threads take turns on one core. With the crypto crates unoptimised in
 * debug builds a step took up to 6 s there (and a 10 s wait failed once in CI); Cargo.toml now
 * optimises them (steps of 0.1-0.3 s under valgrind). The waits are bounds, kept generous. */
#define CERTIFIED_WAIT_MS 30000

/* Certified mode: files made by `ryre cert` in $RYRE_TEST_PKI (scripts/test-bindings.sh):
 * alice (secret=all, chat=all), bob (chat=join,shout), root.cert, bob.revocations (bob revoked),
 * tampered/bob (bob's certificate with one byte changed). */
static void test_certified(void) {
    const char *pki = getenv("RYRE_TEST_PKI");
    CHECK(pki != NULL);
    if (!pki) return;
    char alice[512], bob[512], root[512], revoked[512], tampered[512];
    snprintf(alice, sizeof alice, "%s/alice", pki);
    snprintf(bob, sizeof bob, "%s/bob", pki);
    snprintf(root, sizeof root, "%s/root.cert", pki);
    snprintf(revoked, sizeof revoked, "%s/bob.revocations", pki);
    snprintf(tampered, sizeof tampered, "%s/tampered/bob", pki);
    FAILS_WITH(ryre_node_set_certificate(NULL, alice), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_add_trust(NULL, root), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_set_revocations(NULL, revoked), RYRE_ERR_NULL);
    FAILS_WITH(ryre_node_add_revocations(NULL, revoked), RYRE_ERR_NULL);
    CHECK(ryre_node_is_certified(NULL) == -1 && ryre_last_error_code() == RYRE_ERR_NULL);

    int port = ryre_private_port();
    /* a tampered certificate, and no trust at all: the node does not start */
    ryre_node_t *t = make("tampered", port);
    CHECK(ryre_node_set_certificate(t, tampered) == RYRE_OK);
    CHECK(ryre_node_add_trust(t, root) == RYRE_OK);
    FAILS_WITH(ryre_node_start(t), RYRE_ERR_INVALID);
    ryre_node_destroy(t);
    t = make("untrusting", port);
    CHECK(ryre_node_set_certificate(t, bob) == RYRE_OK);
    FAILS_WITH(ryre_node_start(t), RYRE_ERR_INVALID);
    ryre_node_destroy(t);

    ryre_node_t *a = make("alice", port);
    ryre_node_t *b = make("bob", port);
    ryre_node_t *p = make("plain", port);
    CHECK(ryre_node_set_certificate(a, alice) == RYRE_OK);
    CHECK(ryre_node_add_trust(a, root) == RYRE_OK);
    CHECK(ryre_node_set_certificate(b, bob) == RYRE_OK);
    CHECK(ryre_node_add_trust(b, root) == RYRE_OK);
    CHECK(ryre_node_is_certified(a) == -1 && ryre_last_error_code() == RYRE_ERR_STATE);
    CHECK(ryre_node_start(a) == RYRE_OK);
    CHECK(ryre_node_start(p) == RYRE_OK);
    CHECK(ryre_node_start(b) == RYRE_OK);
    CHECK(ryre_node_is_certified(a) == 1);
    CHECK(ryre_node_is_certified(p) == 0);
    FAILS_WITH(ryre_node_add_revocations(p, revoked), RYRE_ERR_STATE);
    char buuid[33];
    snprintf(buuid, sizeof buuid, "%s", ryre_node_uuid(b));
    ryre_event_t *ev = wait_for(a, RYRE_EVENT_ENTER, CERTIFIED_WAIT_MS);
    CHECK(ev != NULL && strcmp(ryre_event_peer_uuid(ev), buuid) == 0);
    ryre_event_free(ev);
    /* rights: bob may not join secret, nor whisper */
    FAILS_WITH(ryre_node_join(b, "secret"), RYRE_ERR_PROTOCOL);
    const uint8_t hi[2] = {'h', 'i'};
    FAILS_WITH(ryre_node_whisper(b, ryre_node_uuid(a), hi, 2), RYRE_ERR_PROTOCOL);
    CHECK(ryre_node_join(a, "secret") == RYRE_OK);
    CHECK(ryre_node_join(a, "chat") == RYRE_OK);
    ev = wait_for(b, RYRE_EVENT_JOIN, CERTIFIED_WAIT_MS);
    /* the first JOIN bob hears of is chat: secret's membership is not told to him */
    CHECK(ev != NULL && strcmp(ryre_event_group(ev), "chat") == 0);
    ryre_event_free(ev);
    /* the plain node never entered alice */
    ryre_list_t *l = ryre_node_peers(a);
    CHECK(ryre_list_size(l) == 1);
    ryre_list_free(l);
    /* a revocation handed to alice drops bob */
    FAILS_WITH(ryre_node_add_revocations(a, "/nonexistent/ryre.revocations"), RYRE_ERR_INVALID);
    CHECK(ryre_node_add_revocations(a, revoked) == RYRE_OK);
    ev = wait_for(a, RYRE_EVENT_EXIT, CERTIFIED_WAIT_MS);
    CHECK(ev != NULL && strcmp(ryre_event_peer_uuid(ev), buuid) == 0 &&
          strcmp(ryre_event_exit_reason(ev), "revoked") == 0);
    ryre_event_free(ev);
    ryre_node_destroy(a);
    ryre_node_destroy(b);
    ryre_node_destroy(p);
}

int main(void) {
    test_statics();
    test_null_node();
    int port = ryre_private_port();
    test_settings(port);
    test_two_nodes(ryre_private_port());
    test_ipv6();
    test_certified();
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
