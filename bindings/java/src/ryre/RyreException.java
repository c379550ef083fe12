package ryre;

/** A failed call: the C error code (ryre_error_t) and the library's message. */
public class RyreException extends RuntimeException {
    private static final String[] NAMES = {"OK", "NULL", "UTF8", "INVALID", "STATE", "UUID",
        "UNKNOWN_PEER", "STOPPED", "TIMEOUT", "NETWORK", "PROTOCOL", "SYSTEM", "PANIC", "RANGE"};

    /** A NULL argument. */ public static final int NULL = -1;
    /** Not UTF-8. */ public static final int UTF8 = -2;
    /** Out of range or malformed. */ public static final int INVALID = -3;
    /** Does not fit the node's state. */ public static final int STATE = -4;
    /** Not a peer id. */ public static final int UUID = -5;
    /** No such peer. */ public static final int UNKNOWN_PEER = -6;
    /** The node has stopped. */ public static final int STOPPED = -7;
    /** No event within the timeout. */ public static final int TIMEOUT = -8;
    /** The network refused. */ public static final int NETWORK = -9;
    /** A peer or the protocol refused (e.g. beyond a certificate's rights). */ public static final int PROTOCOL = -10;
    /** The operating system failed. */ public static final int SYSTEM = -11;
    /** A panic inside the library (a bug). */ public static final int PANIC = -12;
    /** An index or value out of range. */ public static final int RANGE = -13;

    private final int code;

    /** An exception for a code and a message. */
    public RyreException(int code, String message) {
        super(message + " (" + name(code) + ")");
        this.code = code;
    }

    /** The C error code (a negative ryre_error_t). */
    public int code() {
        return code;
    }

    /** The code's name, e.g. "UNKNOWN_PEER". */
    public static String name(int code) {
        return code <= 0 && -code < NAMES.length ? NAMES[-code] : "UNKNOWN";
    }
}
