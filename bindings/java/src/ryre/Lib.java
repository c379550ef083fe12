package ryre;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import java.nio.charset.StandardCharsets;

/** The C functions of crates/ryre-ffi/include/ryre.h, by JNA direct mapping (LP64: size_t and
 * pointers as long where JNA needs a plain array). */
final class Lib {
    static {
        Native.register("ryre_ffi");
    }

    private Lib() {}

    static native Pointer ryre_last_error();
    static native int ryre_last_error_code();
    static native Pointer ryre_version();
    static native int ryre_private_port();
    static native void ryre_string_free(Pointer s);
    static native long ryre_list_size(Pointer l);
    static native Pointer ryre_list_item(Pointer l, long i);
    static native void ryre_list_free(Pointer l);
    static native Pointer ryre_node_new(byte[] name);
    static native void ryre_node_destroy(Pointer n);
    static native int ryre_node_start(Pointer n);
    static native int ryre_node_stop(Pointer n);
    static native int ryre_node_set_header(Pointer n, byte[] k, byte[] v);
    static native int ryre_node_set_interface(Pointer n, byte[] s);
    static native int ryre_node_set_endpoint(Pointer n, byte[] s);
    static native int ryre_node_set_discovery(Pointer n, byte[] s);
    static native int ryre_node_set_rendezvous_path(Pointer n, byte[] s);
    static native int ryre_node_set_port(Pointer n, int v);
    static native int ryre_node_set_interval(Pointer n, int v);
    static native int ryre_node_set_evasive_timeout(Pointer n, int v);
    static native int ryre_node_set_expired_timeout(Pointer n, int v);
    static native int ryre_node_set_stop_flush(Pointer n, int v);
    static native int ryre_node_set_rendezvous_port(Pointer n, int v);
    static native int ryre_node_set_send_hwm(Pointer n, int v);
    static native int ryre_node_set_agent(Pointer n, byte v);
    static native int ryre_node_set_verbose(Pointer n, byte v);
    static native int ryre_node_set_beacon(Pointer n, byte v);
    static native int ryre_node_set_ipv6(Pointer n, byte v);
    static native int ryre_node_set_dual_stack(Pointer n, byte v);
    static native int ryre_node_set_certificate(Pointer n, byte[] s);
    static native int ryre_node_add_trust(Pointer n, byte[] s);
    static native int ryre_node_set_revocations(Pointer n, byte[] s);
    static native int ryre_node_is_certified(Pointer n);
    static native int ryre_node_add_revocations(Pointer n, byte[] s);
    static native int ryre_node_gossip_bind(Pointer n, byte[] s);
    static native int ryre_node_gossip_connect(Pointer n, byte[] s);
    static native Pointer ryre_node_gossip_endpoint(Pointer n);
    static native Pointer ryre_node_uuid(Pointer n);
    static native Pointer ryre_node_name(Pointer n);
    static native Pointer ryre_node_endpoint(Pointer n);
    static native int ryre_node_join(Pointer n, byte[] g);
    static native int ryre_node_leave(Pointer n, byte[] g);
    static native int ryre_node_contest_in_group(Pointer n, byte[] g);
    static native int ryre_node_shout_frames(Pointer n, byte[] g, long[] frames, long[] lens, long count);
    static native int ryre_node_whisper_frames(Pointer n, byte[] p, long[] frames, long[] lens, long count);
    static native int ryre_node_connect_peer(Pointer n, byte[] p, byte[] e);
    static native Pointer ryre_node_recv(Pointer n, int timeoutMs);
    static native int ryre_node_fd(Pointer n);
    static native Pointer ryre_node_peers(Pointer n);
    static native Pointer ryre_node_peers_by_group(Pointer n, byte[] g);
    static native Pointer ryre_node_own_groups(Pointer n);
    static native Pointer ryre_node_peer_groups(Pointer n);
    static native Pointer ryre_node_peer_name(Pointer n, byte[] p);
    static native Pointer ryre_node_peer_address(Pointer n, byte[] p);
    static native Pointer ryre_node_peer_header(Pointer n, byte[] p, byte[] k);
    static native Pointer ryre_node_leader(Pointer n, byte[] g);
    static native int ryre_event_type(Pointer e);
    static native Pointer ryre_event_peer_uuid(Pointer e);
    static native Pointer ryre_event_peer_name(Pointer e);
    static native Pointer ryre_event_group(Pointer e);
    static native Pointer ryre_event_endpoint(Pointer e);
    static native Pointer ryre_event_exit_reason(Pointer e);
    static native long ryre_event_frame_count(Pointer e);
    static native Pointer ryre_event_frame(Pointer e, long i, long[] len);
    static native long ryre_event_header_count(Pointer e);
    static native int ryre_event_header_at(Pointer e, long i, long[] key, long[] value);
    static native void ryre_event_free(Pointer e);

    /** A NUL-terminated UTF-8 copy; null stays null (the library reports RYRE_ERR_NULL). */
    static byte[] u(String s) {
        if (s == null) return null;
        byte[] b = s.getBytes(StandardCharsets.UTF_8);
        byte[] z = new byte[b.length + 1];
        System.arraycopy(b, 0, z, 0, b.length);
        return z;
    }

    static String str(Pointer p) {
        return p == null ? null : p.getString(0, "UTF-8");
    }

    static RyreException last() {
        return new RyreException(ryre_last_error_code(), str(ryre_last_error()));
    }

    static void check(int rc) {
        if (rc != 0) throw new RyreException(rc, str(ryre_last_error()));
    }

    static Pointer checkPtr(Pointer p) {
        if (p == null) throw last();
        return p;
    }

    static String take(Pointer p) {
        if (p == null) return null;
        try {
            return str(p);
        } finally {
            ryre_string_free(p);
        }
    }

    static java.util.List<String> takeList(Pointer l) {
        checkPtr(l);
        try {
            int n = (int) ryre_list_size(l);
            java.util.List<String> out = new java.util.ArrayList<>(n);
            for (int i = 0; i < n; i++) out.add(str(ryre_list_item(l, i)));
            return out;
        } finally {
            ryre_list_free(l);
        }
    }
}
