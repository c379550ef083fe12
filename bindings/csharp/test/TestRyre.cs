// Tests of the C# binding against real nodes on loopback (and, with --interop, against a
// `ryre node` process in the network namespace this runs in). Closing line: "N passed, N failed".
//   mono TestRyre.exe | mono TestRyre.exe --interop PORT NAME | mono TestRyre.exe --bench N
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.Linq;
using System.Text;
using Ryre;

static class TestRyre
{
    const int Wait = 10000;

    static void Check(bool cond, string what)
    {
        if (!cond) throw new Exception("check failed: " + what);
    }

    static Event WaitFor(Node n, EventType type, int timeoutMs = Wait, Func<Event, bool> pred = null)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var left = timeoutMs - (int)sw.ElapsedMilliseconds;
            if (left <= 0) throw new Exception("no " + type + " within " + timeoutMs + " ms");
            var ev = n.Recv(left);
            if (ev != null && ev.Type == type && (pred == null || pred(ev))) return ev;
        }
    }

    static Node Make(string name, int port) =>
        new Node(name).SetInterface("lo").SetPort(port).SetInterval(100).SetStopFlush(200);

    static void TwoNodesMeetJoinShoutWhisperLeaveStop()
    {
        int port = Library.PrivatePort();
        using (var a = Make("alice", port).SetHeader("X-LANG", "csharp").Start())
        using (var b = Make("bob", port).Start())
        {
            var ev = WaitFor(b, EventType.Enter);
            Check(ev.PeerUuid == a.Uuid && ev.PeerName == "alice", "enter");
            Check(ev.Headers["X-LANG"] == "csharp" && ev.Endpoint == a.Endpoint, "headers, endpoint");
            WaitFor(a, EventType.Enter);
            a.Join("chat");
            b.Join("chat");
            ev = WaitFor(b, EventType.Join);
            Check(ev.Group == "chat" && ev.PeerName == "alice", "join");
            WaitFor(a, EventType.Join);
            Check(b.Peers().SequenceEqual(new[] { a.Uuid }), "peers");
            Check(b.PeersByGroup("chat").SequenceEqual(new[] { a.Uuid }), "peers by group");
            Check(a.OwnGroups().SequenceEqual(new[] { "chat" }) && b.PeerGroups().SequenceEqual(new[] { "chat" }), "groups");
            Check(b.PeerName(a.Uuid) == "alice" && b.PeerHeader(a.Uuid, "X-LANG") == "csharp", "peer info");
            Check(b.PeerAddress(a.Uuid) == a.Endpoint, "peer address");
            a.Shout("chat", Encoding.UTF8.GetBytes("héllo"), new byte[] { 0, 255 }, new byte[0]);
            ev = WaitFor(b, EventType.Shout);
            Check(ev.Group == "chat" && ev.Text == "héllo" && ev.Frames.Length == 3, ev.ToString());
            Check(ev.Frames[1].SequenceEqual(new byte[] { 0, 255 }) && ev.Frames[2].Length == 0, "binary frames");
            b.Whisper(a.Uuid, "psst");
            ev = WaitFor(a, EventType.Whisper);
            Check(ev.Text == "psst" && ev.PeerName == "bob", ev.ToString());
            a.Leave("chat");
            ev = WaitFor(b, EventType.Leave);
            Check(ev.Group == "chat", "leave");
            a.Stop();
            WaitFor(a, EventType.Stop);
            ev = WaitFor(b, EventType.Exit, Wait, e => e.PeerUuid == a.Uuid);
            Check(!string.IsNullOrEmpty(ev.ExitReason), "exit reason");
            try { a.Recv(1000); throw new Exception("recv after stop did not throw"); }
            catch (RyreException e) { Check(e.Code == ErrorCode.Stopped, e.Message); }
        }
    }

    static void ErrorsAreExceptions()
    {
        using (var n = new Node("solo").SetInterface("lo").SetDiscovery("off").Start())
        {
            try { n.Whisper("not-a-uuid", "x"); throw new Exception("no exception"); }
            catch (RyreException e) { Check(e.Code == ErrorCode.Uuid && e.Message.Contains("not-a-uuid"), e.Message); }
            try { n.Whisper(new string('F', 32), "x"); throw new Exception("no exception"); }
            catch (RyreException e) { Check(e.Code == ErrorCode.UnknownPeer, e.Message); }
            try { n.Join(null); throw new Exception("no exception"); }
            catch (RyreException e) { Check(e.Code == ErrorCode.Null, e.Message); }
            try { n.SetPort(5670); throw new Exception("no exception"); }
            catch (RyreException e) { Check(e.Code == ErrorCode.State, e.Message); }
            Check(n.Recv(0) == null, "timeout is null");
            Check(n.PeerName(new string('F', 32)) == null, "unknown peer name is null");
            Check(n.Fd >= 0, "fd");
        }
        try { new Node("x").SetPort(0); throw new Exception("no exception"); }
        catch (RyreException e) { Check(e.Code == ErrorCode.Invalid, e.Message); }
        try { using (new Node("x").SetInterface("no-such-if0").Start()) { } throw new Exception("no exception"); }
        catch (RyreException e) { Check(e.Code == ErrorCode.Network, e.Message); }
        var closed = new Node("closed");
        closed.Dispose();
        try { closed.Join("g"); throw new Exception("no exception"); }
        catch (RyreException e) { Check(e.Code == ErrorCode.State, e.Message); }
    }

    // Certified mode with the files scripts/test-bindings.sh makes with `ryre cert` ($RYRE_TEST_PKI):
    // alice (secret=all, chat=all), bob (chat=join,shout), root.cert, bob.revocations, tampered/bob.
    static void CertifiedRightsAndRevocation()
    {
        var pki = Environment.GetEnvironmentVariable("RYRE_TEST_PKI");
        Check(pki != null, "RYRE_TEST_PKI is set (scripts/test-bindings.sh makes the files)");
        int port = Library.PrivatePort();
        try
        {
            using (Make("tampered", port).SetCertificate(pki + "/tampered/bob").AddTrust(pki + "/root.cert").Start()) { }
            throw new Exception("a tampered certificate started");
        }
        catch (RyreException e) { Check(e.Code == ErrorCode.Invalid, e.Message); }
        using (var a = Make("alice", port).SetCertificate(pki + "/alice").AddTrust(pki + "/root.cert").Start())
        using (var b = Make("bob", port).SetCertificate(pki + "/bob").AddTrust(pki + "/root.cert").Start())
        using (var plain = Make("plain", port).Start())
        {
            Check(a.IsCertified && b.IsCertified && !plain.IsCertified, "certified");
            WaitFor(a, EventType.Enter, Wait, e => e.PeerUuid == b.Uuid);
            WaitFor(b, EventType.Enter, Wait, e => e.PeerUuid == a.Uuid);
            try { b.Join("secret"); throw new Exception("bob joined secret"); }
            catch (RyreException e) { Check(e.Code == ErrorCode.Protocol, e.Message); }
            try { b.Whisper(a.Uuid, "hi"); throw new Exception("bob whispered"); }
            catch (RyreException e) { Check(e.Code == ErrorCode.Protocol, e.Message); }
            a.Join("secret");
            a.Join("chat");
            var ev = WaitFor(b, EventType.Join);
            Check(ev.Group == "chat", "bob hears of chat only: " + ev.Group);
            Check(a.Peers().SequenceEqual(new[] { b.Uuid }), "the plain node never entered alice");
            try { a.AddRevocations("/nonexistent/ryre.revocations"); throw new Exception("no exception"); }
            catch (RyreException e) { Check(e.Code == ErrorCode.Invalid, e.Message); }
            a.AddRevocations(pki + "/bob.revocations");
            ev = WaitFor(a, EventType.Exit, Wait, e => e.PeerUuid == b.Uuid);
            Check(ev.ExitReason == "revoked", ev.ExitReason);
        }
    }

    // IPv6 on loopback: a gossip hub at tcp://[::1]:* and two nodes that meet through it. Skipped
    // (counted as passed) when lo has no ::1.
    static void Ipv6AndGossip()
    {
        Node hub;
        try { hub = new Node("hub6").SetInterface("lo").SetIpv6(true).GossipBind("tcp://[::1]:*").Start(); }
        catch (RyreException e) { Console.WriteLine("SKIP: no IPv6 on lo here (" + e.Message + ")"); return; }
        using (hub)
        using (var x = new Node("v6a").SetInterface("lo").SetIpv6(true).GossipConnect(hub.GossipEndpoint).Start())
        using (var y = new Node("v6b").SetInterface("lo").SetIpv6(true).GossipConnect(hub.GossipEndpoint).Start())
        {
            Check(hub.GossipEndpoint.StartsWith("tcp://[::1]:") && x.GossipEndpoint == null, "gossip endpoints");
            var ev = WaitFor(x, EventType.Enter, Wait, e => e.PeerUuid == y.Uuid);
            Check(ev.Endpoint.StartsWith("tcp://[::1]:"), ev.Endpoint);
            WaitFor(y, EventType.Enter, Wait, e => e.PeerUuid == x.Uuid);
            x.Whisper(y.Uuid, "v6");
            Check(WaitFor(y, EventType.Whisper).Text == "v6", "whisper over IPv6");
        }
        using (var both = new Node("both").SetInterface("lo").SetDualStack(true).SetDiscovery("off").Start())
            Check(both.Endpoint.StartsWith("tcp://127.0.0.1:"), both.Endpoint);
    }

    static void Interop(int port, string name)
    {
        using (var n = new Node("csharp-interop").SetInterface("lo").SetPort(port).SetInterval(100).SetDiscovery("beacon").Start())
        {
            var ev = WaitFor(n, EventType.Enter, 20000, e => e.PeerName == name);
            n.Whisper(ev.PeerUuid, "ping from csharp");
            ev = WaitFor(n, EventType.Whisper, 20000, e => e.PeerName == name);
            Check(ev.Text == "ECHO ping from csharp", ev.Text);
        }
    }

    static void Bench(int total)
    {
        int port = Library.PrivatePort();
        using (var a = Make("alice", port).Start())
        using (var b = Make("bob", port).Start())
        {
            var bob = WaitFor(a, EventType.Enter).PeerUuid;
            WaitFor(b, EventType.Enter);
            var payload = new byte[16];
            var sw = Stopwatch.StartNew();
            int got = 0;
            while (got < total)
            {
                int round = Math.Min(1000, total - got);
                for (int i = 0; i < round; i++) a.Whisper(bob, payload);
                for (int n = 0; n < round;)
                {
                    var ev = b.Recv(Wait);
                    if (ev == null) throw new Exception("stalled after " + (got + n));
                    if (ev.Type == EventType.Whisper && ev.Frames[0].Length == 16) n++;
                }
                got += round;
            }
            var secs = sw.Elapsed.TotalSeconds;
            Console.WriteLine(FormattableString.Invariant($"whisper16 csharp {total} {secs:F3} {total / secs:F0}"));
        }
    }

    static int Run(List<KeyValuePair<string, Action>> tests)
    {
        int passed = 0, failed = 0;
        foreach (var t in tests)
        {
            try { t.Value(); passed++; Console.WriteLine("ok   " + t.Key); }
            catch (Exception e) { failed++; Console.WriteLine("FAIL " + t.Key + ": " + e.Message); }
        }
        Console.WriteLine(passed + " passed, " + failed + " failed");
        return failed == 0 ? 0 : 1;
    }

    static int Main(string[] args)
    {
        var tests = new List<KeyValuePair<string, Action>>();
        if (args.Length > 0 && args[0] == "--bench")
        {
            Bench(args.Length > 1 ? int.Parse(args[1]) : 100000);
            return 0;
        }
        if (args.Length > 2 && args[0] == "--interop")
            tests.Add(new KeyValuePair<string, Action>("interop_with_ryre_node", () => Interop(int.Parse(args[1]), args[2])));
        else
        {
            tests.Add(new KeyValuePair<string, Action>("two_nodes_meet_join_shout_whisper_leave_stop", TwoNodesMeetJoinShoutWhisperLeaveStop));
            tests.Add(new KeyValuePair<string, Action>("errors_are_exceptions", ErrorsAreExceptions));
            tests.Add(new KeyValuePair<string, Action>("certified_rights_and_revocation", CertifiedRightsAndRevocation));
            tests.Add(new KeyValuePair<string, Action>("ipv6_and_gossip", Ipv6AndGossip));
        }
        return Run(tests);
    }
}
