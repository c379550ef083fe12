// Two nodes on loopback meet, and alice whispers to bob.
using System;
using Ryre;

static class Pair
{
    static Event Next(Node n, EventType t)
    {
        for (;;)
        {
            var ev = n.Recv(10000) ?? throw new Exception("no " + t + " within 10 s");
            if (ev.Type == t) return ev;
        }
    }

    static void Main()
    {
        int port = Library.PrivatePort();
        using (var alice = new Node("alice").SetInterface("lo").SetPort(port).SetInterval(100).Start())
        using (var bob = new Node("bob").SetInterface("lo").SetPort(port).SetInterval(100).Start())
        {
            var enter = Next(alice, EventType.Enter);
            Console.WriteLine("alice met " + enter.PeerName);
            alice.Whisper(enter.PeerUuid, "hello from C#");
            var msg = Next(bob, EventType.Whisper);
            Console.WriteLine("bob got \"" + msg.Text + "\" from " + msg.PeerName);
        }
    }
}
