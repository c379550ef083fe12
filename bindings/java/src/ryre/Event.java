package ryre;

import com.sun.jna.Pointer;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/** One event, copied out of the library (the C event is freed at once). */
public final class Event {
    /** Its kind. */ public final EventType type;
    /** The peer's id (32 hex digits). */ public final String peerUuid;
    /** The peer's name. */ public final String peerName;
    /** The group (JOIN, LEAVE, SHOUT, LEADER) or null. */ public final String group;
    /** The peer's endpoint (ENTER) or null. */ public final String endpoint;
    /** Why the peer left (EXIT) or null. */ public final String exitReason;
    /** Content frames (WHISPER, SHOUT). */ public final List<byte[]> frames;
    /** HELLO headers (ENTER). */ public final Map<String, String> headers;

    Event(Pointer e) {
        type = EventType.of(Lib.ryre_event_type(e));
        peerUuid = Lib.str(Lib.ryre_event_peer_uuid(e));
        peerName = Lib.str(Lib.ryre_event_peer_name(e));
        group = Lib.str(Lib.ryre_event_group(e));
        endpoint = Lib.str(Lib.ryre_event_endpoint(e));
        exitReason = Lib.str(Lib.ryre_event_exit_reason(e));
        int n = (int) Lib.ryre_event_frame_count(e);
        byte[][] fs = new byte[n][];
        long[] len = new long[1];
        for (int i = 0; i < n; i++) {
            Pointer p = Lib.checkPtr(Lib.ryre_event_frame(e, i, len));
            fs[i] = p.getByteArray(0, (int) len[0]);
        }
        frames = List.of(fs);
        Map<String, String> h = new TreeMap<>();
        long[] k = new long[1];
        long[] v = new long[1];
        int hn = (int) Lib.ryre_event_header_count(e);
        for (int i = 0; i < hn; i++) {
            Lib.check(Lib.ryre_event_header_at(e, i, k, v));
            h.put(Lib.str(new Pointer(k[0])), Lib.str(new Pointer(v[0])));
        }
        headers = Collections.unmodifiableMap(h);
    }

    /** The first frame as UTF-8 text, or null. */
    public String text() {
        return frames.isEmpty() ? null : new String(frames.get(0), StandardCharsets.UTF_8);
    }

    @Override
    public String toString() {
        return type + " " + peerName + (group != null ? " " + group : "")
            + (frames.isEmpty() ? "" : " [" + frames.size() + " frames]");
    }
}
