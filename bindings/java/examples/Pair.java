// Two nodes on loopback meet, and alice whispers to bob.
import ryre.Event;
import ryre.EventType;
import ryre.Node;

public final class Pair {
    static Event next(Node n, EventType t) {
        while (true) {
            Event ev = n.recv(10000);
            if (ev == null) throw new IllegalStateException("no " + t + " within 10 s");
            if (ev.type == t) return ev;
        }
    }

    public static void main(String[] args) {
        int port = Node.privatePort();
        try (Node alice = new Node("alice").iface("lo").port(port).interval(100).start();
             Node bob = new Node("bob").iface("lo").port(port).interval(100).start()) {
            Event enter = next(alice, EventType.ENTER);
            System.out.println("alice met " + enter.peerName);
            alice.whisper(enter.peerUuid, "hello from Java");
            Event msg = next(bob, EventType.WHISPER);
            System.out.println("bob got \"" + msg.text() + "\" from " + msg.peerName);
        }
    }
}
