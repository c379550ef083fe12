package ryre;

import com.sun.jna.Memory;
import com.sun.jna.Pointer;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** A ZRE node: configure with the set methods, start, use, close (which stops and frees it).
 * Use it in try-with-resources. After start, every method may be called from any thread. */
public final class Node implements AutoCloseable {
    private Pointer ptr;

    /** An unstarted node; a null name means the default (6 hex digits of its id). */
    public Node(String name) {
        ptr = Lib.checkPtr(Lib.ryre_node_new(Lib.u(name)));
    }

    private synchronized Pointer live() {
        if (ptr == null) throw new RyreException(RyreException.STATE, "the node is closed");
        return ptr;
    }

    /** A library-wide port for a private group of nodes on this machine (with interface "lo"). */
    public static int privatePort() {
        int p = Lib.ryre_private_port();
        if (p < 0) throw Lib.last();
        return p;
    }

    /** The library version. */
    public static String version() {
        return Lib.str(Lib.ryre_version());
    }

    /** Adds a HELLO header. */
    public Node header(String k, String v) { Lib.check(Lib.ryre_node_set_header(live(), Lib.u(k), Lib.u(v))); return this; }
    /** The interface to beacon on. */
    public Node iface(String s) { Lib.check(Lib.ryre_node_set_interface(live(), Lib.u(s))); return this; }
    /** The inbox endpoint. */
    public Node endpoint(String s) { Lib.check(Lib.ryre_node_set_endpoint(live(), Lib.u(s))); return this; }
    /** Discovery: "auto", "local", "beacon" or "off". */
    public Node discovery(String s) { Lib.check(Lib.ryre_node_set_discovery(live(), Lib.u(s))); return this; }
    /** The device rendezvous on a Unix socket. */
    public Node rendezvousPath(String s) { Lib.check(Lib.ryre_node_set_rendezvous_path(live(), Lib.u(s))); return this; }
    /** The UDP beacon port. */
    public Node port(int v) { Lib.check(Lib.ryre_node_set_port(live(), v)); return this; }
    /** Milliseconds between beacons. */
    public Node interval(int ms) { Lib.check(Lib.ryre_node_set_interval(live(), ms)); return this; }
    /** Milliseconds of silence before EVASIVE. */
    public Node evasiveTimeout(int ms) { Lib.check(Lib.ryre_node_set_evasive_timeout(live(), ms)); return this; }
    /** Milliseconds of silence before EXIT. */
    public Node expiredTimeout(int ms) { Lib.check(Lib.ryre_node_set_expired_timeout(live(), ms)); return this; }
    /** Milliseconds {@link #stop} may wait for peers to confirm what was sent to them (default 500; 0: at once). */
    public Node stopFlush(int ms) { Lib.check(Lib.ryre_node_set_stop_flush(live(), ms)); return this; }
    /** The device rendezvous TCP port. */
    public Node rendezvousPort(int v) { Lib.check(Lib.ryre_node_set_rendezvous_port(live(), v)); return this; }
    /** Messages queued per peer before it is dropped. */
    public Node sendHwm(int v) { Lib.check(Lib.ryre_node_set_send_hwm(live(), v)); return this; }
    /** Whether this node may serve as the machine's agent. */
    public Node agent(boolean v) { Lib.check(Lib.ryre_node_set_agent(live(), (byte) (v ? 1 : 0))); return this; }
    /** Verbose logging. */
    public Node verbose(boolean v) { Lib.check(Lib.ryre_node_set_verbose(live(), (byte) (v ? 1 : 0))); return this; }
    /** false: discovery off; true: auto. */
    public Node beacon(boolean v) { Lib.check(Lib.ryre_node_set_beacon(live(), (byte) (v ? 1 : 0))); return this; }

    /** IPv6 instead of IPv4 (inbox on the interface's IPv6 address, beacons to ff02::1). */
    public Node ipv6(boolean v) { Lib.check(Lib.ryre_node_set_ipv6(live(), (byte) (v ? 1 : 0))); return this; }
    /** IPv4 and IPv6 at once (inbox on both addresses, beacons over both). */
    public Node dualStack(boolean v) { Lib.check(Lib.ryre_node_set_dual_stack(live(), (byte) (v ? 1 : 0))); return this; }
    /**
     * Certified mode: the certificate and key pair DIR/NAME (NAME.cert and NAME.secret of
     * {@code ryre cert issue}); needs {@link #trust}. A certificate that cannot be read or does
     * not verify makes {@link #start} throw (code INVALID).
     */
    public Node certificate(String path) { Lib.check(Lib.ryre_node_set_certificate(live(), Lib.u(path))); return this; }
    /** Certified mode: trusts this root CA certificate (CA.cert of {@code ryre cert ca}); repeatable. */
    public Node trust(String caCert) { Lib.check(Lib.ryre_node_add_trust(live(), Lib.u(caCert))); return this; }
    /** Certified mode: the revocation file, read at start and kept up to date. */
    public Node revocations(String path) { Lib.check(Lib.ryre_node_set_revocations(live(), Lib.u(path))); return this; }
    /** Serves gossip (ZGP, as Zyre's zyre_gossip_bind) at this endpoint; turns beacons off unless discovery is set too. */
    public Node gossipBind(String endpoint) { Lib.check(Lib.ryre_node_gossip_bind(live(), Lib.u(endpoint))); return this; }
    /** Gossips through the hub at this endpoint (repeatable); turns beacons off unless discovery is set too. */
    public Node gossipConnect(String endpoint) { Lib.check(Lib.ryre_node_gossip_connect(live(), Lib.u(endpoint))); return this; }

    /** Starts the node. */
    public Node start() { Lib.check(Lib.ryre_node_start(live())); return this; }

    /** Own id (after start). */
    public String uuid() { return Lib.str(Lib.checkPtr(Lib.ryre_node_uuid(live()))); }
    /** Own name (after start). */
    public String name() { return Lib.str(Lib.checkPtr(Lib.ryre_node_name(live()))); }
    /** Own endpoint (after start). */
    public String endpoint() { return Lib.str(Lib.checkPtr(Lib.ryre_node_endpoint(live()))); }
    /** The gossip hub's bound endpoint (the port chosen for "*"); null when this node serves no gossip (or has not started). */
    public String gossipEndpoint() { return Lib.str(Lib.ryre_node_gossip_endpoint(live())); }
    /** Whether the started node runs in certified mode. */
    public boolean isCertified() {
        int r = Lib.ryre_node_is_certified(live());
        if (r < 0) throw Lib.last();
        return r == 1;
    }
    /**
     * Certified mode: hands the running node a revocation file (of {@code ryre cert revoke}): the
     * peers it revokes are dropped (EXIT "revoked") and it is passed on to every certified peer.
     */
    public void addRevocations(String path) { Lib.check(Lib.ryre_node_add_revocations(live(), Lib.u(path))); }

    /** Joins a group. */
    public void join(String g) { Lib.check(Lib.ryre_node_join(live(), Lib.u(g))); }
    /** Leaves a group. */
    public void leave(String g) { Lib.check(Lib.ryre_node_leave(live(), Lib.u(g))); }
    /** Takes part in elections in a group. */
    public void contestInGroup(String g) { Lib.check(Lib.ryre_node_contest_in_group(live(), Lib.u(g))); }
    /** Introduces a peer by id and endpoint. */
    public void connectPeer(String peer, String ep) { Lib.check(Lib.ryre_node_connect_peer(live(), Lib.u(peer), Lib.u(ep))); }

    private interface FramesCall {
        int call(long[] ptrs, long[] lens, long count);
    }

    private static void withFrames(byte[][] frames, FramesCall call) {
        int total = 1;
        for (byte[] f : frames) total += f == null ? 0 : f.length;
        Memory buf = new Memory(total);
        long base = Pointer.nativeValue(buf);
        long[] ptrs = new long[Math.max(frames.length, 1)];
        long[] lens = new long[Math.max(frames.length, 1)];
        long off = 0;
        for (int i = 0; i < frames.length; i++) {
            byte[] f = frames[i] == null ? new byte[0] : frames[i];
            buf.write(off, f, 0, f.length);
            ptrs[i] = base + off;
            lens[i] = f.length;
            off += f.length;
        }
        try {
            Lib.check(call.call(ptrs, lens, frames.length));
        } finally {
            buf.close();
        }
    }

    /** Sends frames to every peer in a group. */
    public void shout(String group, byte[]... frames) {
        Pointer n = live();
        byte[] g = Lib.u(group);
        withFrames(frames, (p, l, c) -> Lib.ryre_node_shout_frames(n, g, p, l, c));
    }

    /** Sends one UTF-8 text frame to every peer in a group. */
    public void shout(String group, String text) {
        shout(group, text.getBytes(StandardCharsets.UTF_8));
    }

    /** Sends frames to one peer (its 32-hex-digit id). */
    public void whisper(String peer, byte[]... frames) {
        Pointer n = live();
        byte[] p = Lib.u(peer);
        withFrames(frames, (f, l, c) -> Lib.ryre_node_whisper_frames(n, p, f, l, c));
    }

    /** Sends one UTF-8 text frame to one peer. */
    public void whisper(String peer, String text) {
        whisper(peer, text.getBytes(StandardCharsets.UTF_8));
    }

    /** The next event within timeoutMs (negative: for ever), or null on timeout. Throws
     * RyreException (STOPPED) once the node has stopped and its events are taken. */
    public Event recv(int timeoutMs) {
        Pointer e = Lib.ryre_node_recv(live(), timeoutMs);
        if (e == null) {
            int code = Lib.ryre_last_error_code();
            if (code == RyreException.TIMEOUT) return null;
            throw Lib.last();
        }
        try {
            return new Event(e);
        } finally {
            Lib.ryre_event_free(e);
        }
    }

    /** A file descriptor readable while events wait (owned by the node). */
    public int fd() {
        int fd = Lib.ryre_node_fd(live());
        if (fd < 0) throw Lib.last();
        return fd;
    }

    /** Ids of the peers that said HELLO. */
    public List<String> peers() { return Lib.takeList(Lib.ryre_node_peers(live())); }
    /** Ids of the peers in a group. */
    public List<String> peersByGroup(String g) { return Lib.takeList(Lib.ryre_node_peers_by_group(live(), Lib.u(g))); }
    /** Groups this node is in. */
    public List<String> ownGroups() { return Lib.takeList(Lib.ryre_node_own_groups(live())); }
    /** Groups that peers are in. */
    public List<String> peerGroups() { return Lib.takeList(Lib.ryre_node_peer_groups(live())); }
    /** A peer's name, or null when unknown. */
    public String peerName(String p) { return Lib.take(Lib.ryre_node_peer_name(live(), Lib.u(p))); }
    /** A peer's endpoint, or null when unknown. */
    public String peerAddress(String p) { return Lib.take(Lib.ryre_node_peer_address(live(), Lib.u(p))); }
    /** A peer's HELLO header, or null. */
    public String peerHeader(String p, String k) { return Lib.take(Lib.ryre_node_peer_header(live(), Lib.u(p), Lib.u(k))); }
    /** The leader of a group, or null. */
    public String leader(String g) { return Lib.take(Lib.ryre_node_leader(live(), Lib.u(g))); }

    /** Stops the node (STOP is its last event). */
    public void stop() { Lib.check(Lib.ryre_node_stop(live())); }

    /** Stops (if running) and frees the node; later calls throw RyreException (STATE). Call it
     * once no other thread uses the node. */
    @Override
    public synchronized void close() {
        if (ptr != null) {
            Lib.ryre_node_destroy(ptr);
            ptr = null;
        }
    }
}
