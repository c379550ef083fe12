package ryre;

/** The kinds of event (Zyre's set), numbered as ryre_event_type_t. */
public enum EventType {
    /** A peer said HELLO. */ ENTER,
    /** A peer is gone. */ EXIT,
    /** A peer joined a group. */ JOIN,
    /** A peer left a group. */ LEAVE,
    /** A peer whispered to us. */ WHISPER,
    /** A peer shouted to a group. */ SHOUT,
    /** A peer is silent past the evasive timeout. */ EVASIVE,
    /** A peer is still silent after EVASIVE. */ SILENT,
    /** An election has a leader. */ LEADER,
    /** This node stopped: the last event. */ STOP;

    static EventType of(int c) {
        return values()[c - 1];
    }
}
