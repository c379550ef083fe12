// Tests of the Java binding against real nodes on loopback (and, with --interop, against a
// `ryre node` process in the network namespace this runs in). Closing line: "N passed, N failed".
//   java TestRyre | java TestRyre --interop PORT NAME | java TestRyre --bench N
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Predicate;
import ryre.Event;
import ryre.EventType;
import ryre.Node;
import ryre.RyreException;

public final class TestRyre {
    static final int WAIT = 10000;

    interface Body {
        void run() throws Exception;
    }

    static void check(boolean cond, String what) {
        if (!cond) throw new AssertionError("check failed: " + what);
    }

    static Event waitFor(Node n, EventType t, int timeoutMs, Predicate<Event> pred) {
        long end = System.nanoTime() + timeoutMs * 1_000_000L;
        while (true) {
            int left = (int) ((end - System.nanoTime()) / 1_000_000L);
            if (left <= 0) throw new AssertionError("no " + t + " within " + timeoutMs + " ms");
            Event ev = n.recv(left);
            if (ev != null && ev.type == t && pred.test(ev)) return ev;
        }
    }

    static Event waitFor(Node n, EventType t) {
        return waitFor(n, t, WAIT, e -> true);
    }

    static Node make(String name, int port) {
        return new Node(name).iface("lo").port(port).interval(100).stopFlush(200);
    }

    static void expect(int code, Body body) throws Exception {
        try {
            body.run();
        } catch (RyreException e) {
            check(e.code() == code, "code " + e.code() + ": " + e.getMessage());
            return;
        }
        throw new AssertionError("no RyreException " + RyreException.name(code));
    }

    static void twoNodes() throws Exception {
        int port = Node.privatePort();
        try (Node a = make("alice", port).header("X-LANG", "java").start();
             Node b = make("bob", port).start()) {
            Event ev = waitFor(b, EventType.ENTER);
            check(ev.peerUuid.equals(a.uuid()) && ev.peerName.equals("alice"), "enter");
            check("java".equals(ev.headers.get("X-LANG")) && a.endpoint().equals(ev.endpoint), "headers, endpoint");
            waitFor(a, EventType.ENTER);
            a.join("chat");
            b.join("chat");
            ev = waitFor(b, EventType.JOIN);
            check("chat".equals(ev.group) && ev.peerName.equals("alice"), "join");
            waitFor(a, EventType.JOIN);
            check(b.peers().equals(List.of(a.uuid())), "peers");
            check(b.peersByGroup("chat").equals(List.of(a.uuid())), "peers by group");
            check(a.ownGroups().equals(List.of("chat")) && b.peerGroups().equals(List.of("chat")), "groups");
            check("alice".equals(b.peerName(a.uuid())) && "java".equals(b.peerHeader(a.uuid(), "X-LANG")), "peer info");
            check(a.endpoint().equals(b.peerAddress(a.uuid())), "peer address");
            a.shout("chat", "héllo".getBytes(StandardCharsets.UTF_8), new byte[] {0, (byte) 255}, new byte[0]);
            ev = waitFor(b, EventType.SHOUT);
            check("chat".equals(ev.group) && "héllo".equals(ev.text()) && ev.frames.size() == 3, ev.toString());
            check(Arrays.equals(ev.frames.get(1), new byte[] {0, (byte) 255}) && ev.frames.get(2).length == 0, "binary frames");
            b.whisper(a.uuid(), "psst");
            ev = waitFor(a, EventType.WHISPER);
            check("psst".equals(ev.text()) && ev.peerName.equals("bob"), ev.toString());
            a.leave("chat");
            ev = waitFor(b, EventType.LEAVE);
            check("chat".equals(ev.group), "leave");
            a.stop();
            waitFor(a, EventType.STOP);
            String auuid = a.uuid();
            ev = waitFor(b, EventType.EXIT, WAIT, e -> e.peerUuid.equals(auuid));
            check(ev.exitReason != null && !ev.exitReason.isEmpty(), "exit reason");
            expect(RyreException.STOPPED, () -> a.recv(1000));
        }
    }

    static void errors() throws Exception {
        try (Node n = new Node("solo").iface("lo").discovery("off").start()) {
            expect(RyreException.UUID, () -> n.whisper("not-a-uuid", "x"));
            expect(RyreException.UNKNOWN_PEER, () -> n.whisper("F".repeat(32), "x"));
            expect(RyreException.NULL, () -> n.join(null));
            expect(RyreException.STATE, () -> n.port(5670));
            check(n.recv(0) == null, "timeout is null");
            check(n.peerName("F".repeat(32)) == null, "unknown peer name is null");
            check(n.fd() >= 0, "fd");
        }
        expect(RyreException.INVALID, () -> new Node("x").port(0));
        expect(RyreException.NETWORK, () -> {
            try (Node n = new Node("x").iface("no-such-if0").start()) {
                // unreachable
            }
        });
        Node closed = new Node("closed");
        closed.close();
        expect(RyreException.STATE, () -> closed.join("g"));
    }

    // Certified mode with the files scripts/test-bindings.sh makes with `ryre cert` ($RYRE_TEST_PKI):
    // alice (secret=all, chat=all), bob (chat=join,shout), root.cert, bob.revocations, tampered/bob.
    static void certified() throws Exception {
        String pki = System.getenv("RYRE_TEST_PKI");
        check(pki != null, "RYRE_TEST_PKI is set (scripts/test-bindings.sh makes the files)");
        int port = Node.privatePort();
        String root = pki + "/root.cert";
        expect(RyreException.INVALID, () -> {
            try (Node t = make("tampered", port).certificate(pki + "/tampered/bob").trust(root).start()) {
                // unreachable
            }
        });
        try (Node a = make("alice", port).certificate(pki + "/alice").trust(root).start();
             Node b = make("bob", port).certificate(pki + "/bob").trust(root).start();
             Node plain = make("plain", port).start()) {
            check(a.isCertified() && b.isCertified() && !plain.isCertified(), "certified");
            String auuid = a.uuid(), buuid = b.uuid();
            waitFor(a, EventType.ENTER, WAIT, e -> e.peerUuid.equals(buuid));
            waitFor(b, EventType.ENTER, WAIT, e -> e.peerUuid.equals(auuid));
            expect(RyreException.PROTOCOL, () -> b.join("secret"));
            expect(RyreException.PROTOCOL, () -> b.whisper(auuid, "hi"));
            a.join("secret");
            a.join("chat");
            Event ev = waitFor(b, EventType.JOIN);
            check("chat".equals(ev.group), "bob hears of chat only: " + ev.group);
            check(a.peers().equals(List.of(buuid)), "the plain node never entered alice");
            expect(RyreException.INVALID, () -> a.addRevocations("/nonexistent/ryre.revocations"));
            a.addRevocations(pki + "/bob.revocations");
            ev = waitFor(a, EventType.EXIT, WAIT, e -> e.peerUuid.equals(buuid));
            check("revoked".equals(ev.exitReason), ev.exitReason);
        }
    }

    // IPv6 on loopback: a gossip hub at tcp://[::1]:* and two nodes that meet through it. Skipped
    // (counted as passed) when lo has no ::1.
    static void ipv6Gossip() throws Exception {
        Node hub;
        try {
            hub = new Node("hub6").iface("lo").ipv6(true).gossipBind("tcp://[::1]:*").start();
        } catch (RyreException e) {
            System.out.println("SKIP: no IPv6 on lo here (" + e.getMessage() + ")");
            return;
        }
        try (Node h = hub;
             Node x = new Node("v6a").iface("lo").ipv6(true).gossipConnect(h.gossipEndpoint()).start();
             Node y = new Node("v6b").iface("lo").ipv6(true).gossipConnect(h.gossipEndpoint()).start()) {
            check(h.gossipEndpoint().startsWith("tcp://[::1]:") && x.gossipEndpoint() == null, "gossip endpoints");
            String xu = x.uuid(), yu = y.uuid();
            Event ev = waitFor(x, EventType.ENTER, WAIT, e -> e.peerUuid.equals(yu));
            check(ev.endpoint.startsWith("tcp://[::1]:"), ev.endpoint);
            waitFor(y, EventType.ENTER, WAIT, e -> e.peerUuid.equals(xu));
            x.whisper(yu, "v6");
            check("v6".equals(waitFor(y, EventType.WHISPER).text()), "whisper over IPv6");
        }
        try (Node both = new Node("both").iface("lo").dualStack(true).discovery("off").start()) {
            check(both.endpoint().startsWith("tcp://127.0.0.1:"), both.endpoint());
        }
    }

    static void interop(int port, String name) {
        try (Node n = new Node("java-interop").iface("lo").port(port).interval(100).discovery("beacon").start()) {
            Event ev = waitFor(n, EventType.ENTER, 20000, e -> e.peerName.equals(name));
            n.whisper(ev.peerUuid, "ping from java");
            ev = waitFor(n, EventType.WHISPER, 20000, e -> e.peerName.equals(name));
            check("ECHO ping from java".equals(ev.text()), ev.text());
        }
    }

    static void bench(int total) {
        int port = Node.privatePort();
        try (Node a = make("alice", port).start(); Node b = make("bob", port).start()) {
            String bob = waitFor(a, EventType.ENTER).peerUuid;
            waitFor(b, EventType.ENTER);
            byte[] payload = new byte[16];
            long t0 = System.nanoTime();
            int got = 0;
            while (got < total) {
                int round = Math.min(1000, total - got);
                for (int i = 0; i < round; i++) a.whisper(bob, payload);
                for (int n = 0; n < round; ) {
                    Event ev = b.recv(WAIT);
                    if (ev == null) throw new AssertionError("stalled after " + (got + n));
                    if (ev.type == EventType.WHISPER && ev.frames.get(0).length == 16) n++;
                }
                got += round;
            }
            double secs = (System.nanoTime() - t0) / 1e9;
            System.out.println(String.format(java.util.Locale.ROOT, "whisper16 java %d %.3f %.0f", total, secs, total / secs));
        }
    }

    public static void main(String[] args) {
        if (args.length > 0 && args[0].equals("--bench")) {
            bench(args.length > 1 ? Integer.parseInt(args[1]) : 100000);
            return;
        }
        List<Object[]> tests = new ArrayList<>();
        if (args.length > 2 && args[0].equals("--interop")) {
            tests.add(new Object[] {"interop_with_ryre_node", (Body) () -> interop(Integer.parseInt(args[1]), args[2])});
        } else {
            tests.add(new Object[] {"two_nodes_meet_join_shout_whisper_leave_stop", (Body) TestRyre::twoNodes});
            tests.add(new Object[] {"errors_are_exceptions", (Body) TestRyre::errors});
            tests.add(new Object[] {"certified_rights_and_revocation", (Body) TestRyre::certified});
            tests.add(new Object[] {"ipv6_and_gossip", (Body) TestRyre::ipv6Gossip});
        }
        int passed = 0, failed = 0;
        for (Object[] t : tests) {
            try {
                ((Body) t[1]).run();
                passed++;
                System.out.println("ok   " + t[0]);
            } catch (Throwable e) {
                failed++;
                System.out.println("FAIL " + t[0] + ": " + e);
            }
        }
        System.out.println(passed + " passed, " + failed + " failed");
        System.exit(failed == 0 ? 0 : 1);
    }
}
