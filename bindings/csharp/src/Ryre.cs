// C# binding of ryre (a ZRE node over ZeroMQ) on its C ABI (crates/ryre-ffi/include/ryre.h),
// through [DllImport]. Nodes are IDisposable; events are plain classes copied out of the C event;
// every failure is a RyreException carrying the C error code.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Text;

namespace Ryre
{
    /// <summary>The C error codes (ryre_error_t).</summary>
    public enum ErrorCode
    {
        /// <summary>Success.</summary>
        Ok = 0,
        /// <summary>A required argument was null.</summary>
        Null = -1,
        /// <summary>A string was not valid UTF-8.</summary>
        Utf8 = -2,
        /// <summary>An argument or setting is out of range or malformed.</summary>
        Invalid = -3,
        /// <summary>The call does not fit the node's state (setter after start, closed node).</summary>
        State = -4,
        /// <summary>A peer id is not 32 hex digits.</summary>
        Uuid = -5,
        /// <summary>No ready peer has this id.</summary>
        UnknownPeer = -6,
        /// <summary>The node has stopped.</summary>
        Stopped = -7,
        /// <summary>No event within the timeout.</summary>
        Timeout = -8,
        /// <summary>The network refused something.</summary>
        Network = -9,
        /// <summary>The protocol refused the command.</summary>
        Protocol = -10,
        /// <summary>The operating system refused something.</summary>
        System = -11,
        /// <summary>A bug in the library (a caught panic).</summary>
        Panic = -12,
        /// <summary>An index past the end.</summary>
        Range = -13,
    }

    /// <summary>A failed call: the C error code and the library's message.</summary>
    public class RyreException : Exception
    {
        /// <summary>The C error code.</summary>
        public ErrorCode Code { get; }

        /// <summary>An exception for a code and message.</summary>
        public RyreException(ErrorCode code, string message) : base(message + " (" + code + ")")
        {
            Code = code;
        }
    }

    /// <summary>The kinds of event (Zyre's set).</summary>
    public enum EventType
    {
        /// <summary>A peer said HELLO.</summary>
        Enter = 1,
        /// <summary>A peer is gone.</summary>
        Exit = 2,
        /// <summary>A peer joined a group.</summary>
        Join = 3,
        /// <summary>A peer left a group.</summary>
        Leave = 4,
        /// <summary>A peer whispered to us.</summary>
        Whisper = 5,
        /// <summary>A peer shouted to a group.</summary>
        Shout = 6,
        /// <summary>A peer has been silent past the evasive timeout.</summary>
        Evasive = 7,
        /// <summary>A peer is still silent after EVASIVE.</summary>
        Silent = 8,
        /// <summary>An election has a leader.</summary>
        Leader = 9,
        /// <summary>This node stopped: the last event.</summary>
        Stop = 10,
    }

    /// <summary>One event, copied out of the library.</summary>
    public sealed class Event
    {
        /// <summary>Its kind.</summary>
        public EventType Type { get; internal set; }
        /// <summary>The peer's id (32 hex digits).</summary>
        public string PeerUuid { get; internal set; }
        /// <summary>The peer's name.</summary>
        public string PeerName { get; internal set; }
        /// <summary>The group (Join, Leave, Shout, Leader) or null.</summary>
        public string Group { get; internal set; }
        /// <summary>The peer's endpoint (Enter) or null.</summary>
        public string Endpoint { get; internal set; }
        /// <summary>Why the peer left (Exit) or null.</summary>
        public string ExitReason { get; internal set; }
        /// <summary>Content frames (Whisper, Shout).</summary>
        public byte[][] Frames { get; internal set; }
        /// <summary>HELLO headers (Enter).</summary>
        public IReadOnlyDictionary<string, string> Headers { get; internal set; }
        /// <summary>The first frame as UTF-8 text, or null.</summary>
        public string Text => Frames.Length > 0 ? Encoding.UTF8.GetString(Frames[0]) : null;

        /// <summary>A short description.</summary>
        public override string ToString() => Type + " " + PeerName + (Group != null ? " " + Group : "") +
            (Frames.Length > 0 ? " [" + Frames.Length + " frames]" : "");
    }

    internal static class Native
    {
        const string Lib = "ryre_ffi";
        [DllImport(Lib)] internal static extern IntPtr ryre_last_error();
        [DllImport(Lib)] internal static extern int ryre_last_error_code();
        [DllImport(Lib)] internal static extern IntPtr ryre_version();
        [DllImport(Lib)] internal static extern int ryre_private_port();
        [DllImport(Lib)] internal static extern void ryre_string_free(IntPtr s);
        [DllImport(Lib)] internal static extern UIntPtr ryre_list_size(IntPtr l);
        [DllImport(Lib)] internal static extern IntPtr ryre_list_item(IntPtr l, UIntPtr i);
        [DllImport(Lib)] internal static extern void ryre_list_free(IntPtr l);
        [DllImport(Lib)] internal static extern IntPtr ryre_node_new(byte[] name);
        [DllImport(Lib)] internal static extern void ryre_node_destroy(IntPtr n);
        [DllImport(Lib)] internal static extern int ryre_node_start(IntPtr n);
        [DllImport(Lib)] internal static extern int ryre_node_stop(IntPtr n);
        [DllImport(Lib)] internal static extern int ryre_node_set_header(IntPtr n, byte[] k, byte[] v);
        [DllImport(Lib)] internal static extern int ryre_node_set_interface(IntPtr n, byte[] s);
        [DllImport(Lib)] internal static extern int ryre_node_set_endpoint(IntPtr n, byte[] s);
        [DllImport(Lib)] internal static extern int ryre_node_set_discovery(IntPtr n, byte[] s);
        [DllImport(Lib)] internal static extern int ryre_node_set_rendezvous_path(IntPtr n, byte[] s);
        [DllImport(Lib)] internal static extern int ryre_node_set_port(IntPtr n, int v);
        [DllImport(Lib)] internal static extern int ryre_node_set_interval(IntPtr n, int v);
        [DllImport(Lib)] internal static extern int ryre_node_set_evasive_timeout(IntPtr n, int v);
        [DllImport(Lib)] internal static extern int ryre_node_set_expired_timeout(IntPtr n, int v);
        [DllImport(Lib)] internal static extern int ryre_node_set_stop_flush(IntPtr n, int v);
        [DllImport(Lib)] internal static extern int ryre_node_set_rendezvous_port(IntPtr n, int v);
        [DllImport(Lib)] internal static extern int ryre_node_set_send_hwm(IntPtr n, int v);
        [DllImport(Lib)] internal static extern int ryre_node_set_agent(IntPtr n, [MarshalAs(UnmanagedType.I1)] bool v);
        [DllImport(Lib)] internal static extern int ryre_node_set_verbose(IntPtr n, [MarshalAs(UnmanagedType.I1)] bool v);
        [DllImport(Lib)] internal static extern int ryre_node_set_beacon(IntPtr n, [MarshalAs(UnmanagedType.I1)] bool v);
        [DllImport(Lib)] internal static extern int ryre_node_set_ipv6(IntPtr n, [MarshalAs(UnmanagedType.I1)] bool v);
        [DllImport(Lib)] internal static extern int ryre_node_set_dual_stack(IntPtr n, [MarshalAs(UnmanagedType.I1)] bool v);
        [DllImport(Lib)] internal static extern int ryre_node_set_certificate(IntPtr n, byte[] s);
        [DllImport(Lib)] internal static extern int ryre_node_add_trust(IntPtr n, byte[] s);
        [DllImport(Lib)] internal static extern int ryre_node_set_revocations(IntPtr n, byte[] s);
        [DllImport(Lib)] internal static extern int ryre_node_is_certified(IntPtr n);
        [DllImport(Lib)] internal static extern int ryre_node_add_revocations(IntPtr n, byte[] s);
        [DllImport(Lib)] internal static extern int ryre_node_gossip_bind(IntPtr n, byte[] s);
        [DllImport(Lib)] internal static extern int ryre_node_gossip_connect(IntPtr n, byte[] s);
        [DllImport(Lib)] internal static extern IntPtr ryre_node_gossip_endpoint(IntPtr n);
        [DllImport(Lib)] internal static extern IntPtr ryre_node_uuid(IntPtr n);
        [DllImport(Lib)] internal static extern IntPtr ryre_node_name(IntPtr n);
        [DllImport(Lib)] internal static extern IntPtr ryre_node_endpoint(IntPtr n);
        [DllImport(Lib)] internal static extern int ryre_node_join(IntPtr n, byte[] g);
        [DllImport(Lib)] internal static extern int ryre_node_leave(IntPtr n, byte[] g);
        [DllImport(Lib)] internal static extern int ryre_node_contest_in_group(IntPtr n, byte[] g);
        [DllImport(Lib)] internal static extern int ryre_node_shout_frames(IntPtr n, byte[] g, IntPtr[] f, UIntPtr[] l, UIntPtr c);
        [DllImport(Lib)] internal static extern int ryre_node_whisper_frames(IntPtr n, byte[] p, IntPtr[] f, UIntPtr[] l, UIntPtr c);
        [DllImport(Lib)] internal static extern int ryre_node_connect_peer(IntPtr n, byte[] p, byte[] e);
        [DllImport(Lib)] internal static extern IntPtr ryre_node_recv(IntPtr n, int timeoutMs);
        [DllImport(Lib)] internal static extern int ryre_node_fd(IntPtr n);
        [DllImport(Lib)] internal static extern IntPtr ryre_node_peers(IntPtr n);
        [DllImport(Lib)] internal static extern IntPtr ryre_node_peers_by_group(IntPtr n, byte[] g);
        [DllImport(Lib)] internal static extern IntPtr ryre_node_own_groups(IntPtr n);
        [DllImport(Lib)] internal static extern IntPtr ryre_node_peer_groups(IntPtr n);
        [DllImport(Lib)] internal static extern IntPtr ryre_node_peer_name(IntPtr n, byte[] p);
        [DllImport(Lib)] internal static extern IntPtr ryre_node_peer_address(IntPtr n, byte[] p);
        [DllImport(Lib)] internal static extern IntPtr ryre_node_peer_header(IntPtr n, byte[] p, byte[] k);
        [DllImport(Lib)] internal static extern IntPtr ryre_node_leader(IntPtr n, byte[] g);
        [DllImport(Lib)] internal static extern int ryre_event_type(IntPtr e);
        [DllImport(Lib)] internal static extern IntPtr ryre_event_peer_uuid(IntPtr e);
        [DllImport(Lib)] internal static extern IntPtr ryre_event_peer_name(IntPtr e);
        [DllImport(Lib)] internal static extern IntPtr ryre_event_group(IntPtr e);
        [DllImport(Lib)] internal static extern IntPtr ryre_event_endpoint(IntPtr e);
        [DllImport(Lib)] internal static extern IntPtr ryre_event_exit_reason(IntPtr e);
        [DllImport(Lib)] internal static extern UIntPtr ryre_event_frame_count(IntPtr e);
        [DllImport(Lib)] internal static extern IntPtr ryre_event_frame(IntPtr e, UIntPtr i, out UIntPtr len);
        [DllImport(Lib)] internal static extern UIntPtr ryre_event_header_count(IntPtr e);
        [DllImport(Lib)] internal static extern int ryre_event_header_at(IntPtr e, UIntPtr i, out IntPtr k, out IntPtr v);
        [DllImport(Lib)] internal static extern void ryre_event_free(IntPtr e);

        /// A NUL-terminated UTF-8 copy (null stays null: the library reports RYRE_ERR_NULL).
        internal static byte[] U(string s)
        {
            if (s == null) return null;
            var b = Encoding.UTF8.GetBytes(s);
            var z = new byte[b.Length + 1];
            Buffer.BlockCopy(b, 0, z, 0, b.Length);
            return z;
        }

        internal static string Str(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            int len = 0;
            while (Marshal.ReadByte(p, len) != 0) len++;
            var b = new byte[len];
            Marshal.Copy(p, b, 0, len);
            return Encoding.UTF8.GetString(b);
        }

        internal static RyreException Last() =>
            new RyreException((ErrorCode)ryre_last_error_code(), Str(ryre_last_error()));

        internal static void Check(int rc)
        {
            if (rc != 0) throw new RyreException((ErrorCode)rc, Str(ryre_last_error()));
        }

        internal static IntPtr CheckPtr(IntPtr p)
        {
            if (p == IntPtr.Zero) throw Last();
            return p;
        }

        internal static string TakeString(IntPtr p)
        {
            if (p == IntPtr.Zero) return null;
            try { return Str(p); } finally { ryre_string_free(p); }
        }

        internal static string[] TakeList(IntPtr l)
        {
            CheckPtr(l);
            try
            {
                var n = (int)(ulong)ryre_list_size(l);
                var items = new string[n];
                for (int i = 0; i < n; i++) items[i] = Str(ryre_list_item(l, (UIntPtr)i));
                return items;
            }
            finally { ryre_list_free(l); }
        }
    }

    /// <summary>Library-wide calls.</summary>
    public static class Library
    {
        /// <summary>The library version.</summary>
        public static string Version => Native.Str(Native.ryre_version());

        /// <summary>A port for a private group of nodes on this machine (with interface "lo").</summary>
        public static int PrivatePort()
        {
            int p = Native.ryre_private_port();
            if (p < 0) throw Native.Last();
            return p;
        }
    }

    /// <summary>A ZRE node. Configure with the Set methods, Start, use, Dispose (which stops it).</summary>
    public sealed class Node : IDisposable
    {
        IntPtr ptr;

        /// <summary>An unstarted node; a null name means the default (6 hex digits of its id).</summary>
        public Node(string name = null)
        {
            ptr = Native.CheckPtr(Native.ryre_node_new(Native.U(name)));
        }

        IntPtr Live
        {
            get
            {
                if (ptr == IntPtr.Zero) throw new RyreException(ErrorCode.State, "the node is disposed");
                return ptr;
            }
        }

        /// <summary>Adds a HELLO header.</summary>
        public Node SetHeader(string key, string value) { Native.Check(Native.ryre_node_set_header(Live, Native.U(key), Native.U(value))); return this; }
        /// <summary>The interface to beacon on (name or IPv4 address).</summary>
        public Node SetInterface(string s) { Native.Check(Native.ryre_node_set_interface(Live, Native.U(s))); return this; }
        /// <summary>The inbox endpoint (e.g. tcp://127.0.0.1:*).</summary>
        public Node SetEndpoint(string s) { Native.Check(Native.ryre_node_set_endpoint(Live, Native.U(s))); return this; }
        /// <summary>Discovery: "auto", "local", "beacon" or "off".</summary>
        public Node SetDiscovery(string s) { Native.Check(Native.ryre_node_set_discovery(Live, Native.U(s))); return this; }
        /// <summary>The device rendezvous on a Unix socket.</summary>
        public Node SetRendezvousPath(string s) { Native.Check(Native.ryre_node_set_rendezvous_path(Live, Native.U(s))); return this; }
        /// <summary>The UDP beacon port.</summary>
        public Node SetPort(int v) { Native.Check(Native.ryre_node_set_port(Live, v)); return this; }
        /// <summary>Milliseconds between beacons.</summary>
        public Node SetInterval(int ms) { Native.Check(Native.ryre_node_set_interval(Live, ms)); return this; }
        /// <summary>Milliseconds of silence before EVASIVE.</summary>
        public Node SetEvasiveTimeout(int ms) { Native.Check(Native.ryre_node_set_evasive_timeout(Live, ms)); return this; }
        /// <summary>Milliseconds of silence before EXIT.</summary>
        public Node SetExpiredTimeout(int ms) { Native.Check(Native.ryre_node_set_expired_timeout(Live, ms)); return this; }
        /// <summary>Milliseconds <see cref="Stop"/> may wait for peers to confirm what was sent to them (default 500; 0: at once).</summary>
        public Node SetStopFlush(int ms) { Native.Check(Native.ryre_node_set_stop_flush(Live, ms)); return this; }
        /// <summary>The device rendezvous TCP port.</summary>
        public Node SetRendezvousPort(int v) { Native.Check(Native.ryre_node_set_rendezvous_port(Live, v)); return this; }
        /// <summary>Messages queued per peer before it is dropped.</summary>
        public Node SetSendHwm(int v) { Native.Check(Native.ryre_node_set_send_hwm(Live, v)); return this; }
        /// <summary>Whether this node may serve as the machine's agent.</summary>
        public Node SetAgent(bool v) { Native.Check(Native.ryre_node_set_agent(Live, v)); return this; }
        /// <summary>Verbose logging.</summary>
        public Node SetVerbose(bool v) { Native.Check(Native.ryre_node_set_verbose(Live, v)); return this; }
        /// <summary>false: discovery off; true: auto.</summary>
        public Node SetBeacon(bool v) { Native.Check(Native.ryre_node_set_beacon(Live, v)); return this; }

        /// <summary>IPv6 instead of IPv4 (inbox on the interface's IPv6 address, beacons to ff02::1).</summary>
        public Node SetIpv6(bool v) { Native.Check(Native.ryre_node_set_ipv6(Live, v)); return this; }
        /// <summary>IPv4 and IPv6 at once (inbox on both addresses, beacons over both).</summary>
        public Node SetDualStack(bool v) { Native.Check(Native.ryre_node_set_dual_stack(Live, v)); return this; }
        /// <summary>Certified mode: the certificate and key pair DIR/NAME (NAME.cert, NAME.secret of
        /// <c>ryre cert issue</c>); needs <see cref="AddTrust"/>. A certificate that cannot be read or does
        /// not verify makes <see cref="Start"/> throw (<see cref="ErrorCode.Invalid"/>).</summary>
        public Node SetCertificate(string path) { Native.Check(Native.ryre_node_set_certificate(Live, Native.U(path))); return this; }
        /// <summary>Certified mode: trusts this root CA certificate (CA.cert of <c>ryre cert ca</c>); repeatable.</summary>
        public Node AddTrust(string caCert) { Native.Check(Native.ryre_node_add_trust(Live, Native.U(caCert))); return this; }
        /// <summary>Certified mode: the revocation file, read at start and kept up to date.</summary>
        public Node SetRevocations(string path) { Native.Check(Native.ryre_node_set_revocations(Live, Native.U(path))); return this; }
        /// <summary>Serves gossip (ZGP, as Zyre's zyre_gossip_bind) at this endpoint; turns beacons off
        /// unless discovery is set too.</summary>
        public Node GossipBind(string endpoint) { Native.Check(Native.ryre_node_gossip_bind(Live, Native.U(endpoint))); return this; }
        /// <summary>Gossips through the hub at this endpoint (repeatable); turns beacons off unless
        /// discovery is set too.</summary>
        public Node GossipConnect(string endpoint) { Native.Check(Native.ryre_node_gossip_connect(Live, Native.U(endpoint))); return this; }

        /// <summary>Starts the node.</summary>
        public Node Start() { Native.Check(Native.ryre_node_start(Live)); return this; }

        /// <summary>Own id (after Start).</summary>
        public string Uuid => Native.Str(Native.CheckPtr(Native.ryre_node_uuid(Live)));
        /// <summary>Own name (after Start).</summary>
        public string Name => Native.Str(Native.CheckPtr(Native.ryre_node_name(Live)));
        /// <summary>Own endpoint (after Start).</summary>
        public string Endpoint => Native.Str(Native.CheckPtr(Native.ryre_node_endpoint(Live)));
        /// <summary>The gossip hub's bound endpoint (the port chosen for "*"); null when this node serves
        /// no gossip (or has not started).</summary>
        public string GossipEndpoint => Native.Str(Native.ryre_node_gossip_endpoint(Live));
        /// <summary>Whether the started node runs in certified mode.</summary>
        public bool IsCertified
        {
            get
            {
                int r = Native.ryre_node_is_certified(Live);
                if (r < 0) throw Native.Last();
                return r == 1;
            }
        }

        /// <summary>Certified mode: hands the running node a revocation file (of <c>ryre cert revoke</c>):
        /// the peers it revokes are dropped (EXIT "revoked") and it is passed on to every certified peer.</summary>
        public void AddRevocations(string path) => Native.Check(Native.ryre_node_add_revocations(Live, Native.U(path)));

        /// <summary>Joins a group.</summary>
        public void Join(string group) => Native.Check(Native.ryre_node_join(Live, Native.U(group)));
        /// <summary>Leaves a group.</summary>
        public void Leave(string group) => Native.Check(Native.ryre_node_leave(Live, Native.U(group)));
        /// <summary>Takes part in elections in a group.</summary>
        public void ContestInGroup(string group) => Native.Check(Native.ryre_node_contest_in_group(Live, Native.U(group)));
        /// <summary>Introduces a peer by id and endpoint.</summary>
        public void ConnectPeer(string peer, string endpoint) => Native.Check(Native.ryre_node_connect_peer(Live, Native.U(peer), Native.U(endpoint)));

        delegate int FramesCall(IntPtr[] f, UIntPtr[] l, UIntPtr c);

        static void WithFrames(byte[][] frames, FramesCall call)
        {
            var handles = new GCHandle[frames.Length];
            var ptrs = new IntPtr[Math.Max(frames.Length, 1)];
            var lens = new UIntPtr[Math.Max(frames.Length, 1)];
            try
            {
                for (int i = 0; i < frames.Length; i++)
                {
                    var f = frames[i] ?? new byte[0];
                    handles[i] = GCHandle.Alloc(f, GCHandleType.Pinned);
                    ptrs[i] = handles[i].AddrOfPinnedObject();
                    lens[i] = (UIntPtr)f.Length;
                }
                Native.Check(call(ptrs, lens, (UIntPtr)frames.Length));
            }
            finally
            {
                foreach (var h in handles) if (h.IsAllocated) h.Free();
            }
        }

        /// <summary>Sends frames to every peer in a group.</summary>
        public void Shout(string group, params byte[][] frames)
        {
            var g = Native.U(group);
            var n = Live;
            WithFrames(frames, (f, l, c) => Native.ryre_node_shout_frames(n, g, f, l, c));
        }

        /// <summary>Sends one UTF-8 text frame to every peer in a group.</summary>
        public void Shout(string group, string text) => Shout(group, Encoding.UTF8.GetBytes(text));

        /// <summary>Sends frames to one peer (its 32-hex-digit id).</summary>
        public void Whisper(string peer, params byte[][] frames)
        {
            var p = Native.U(peer);
            var n = Live;
            WithFrames(frames, (f, l, c) => Native.ryre_node_whisper_frames(n, p, f, l, c));
        }

        /// <summary>Sends one UTF-8 text frame to one peer.</summary>
        public void Whisper(string peer, string text) => Whisper(peer, Encoding.UTF8.GetBytes(text));

        /// <summary>The next event within timeoutMs (negative: for ever), or null on timeout.
        /// Throws RyreException (Stopped) once the node has stopped and its events are taken.</summary>
        public Event Recv(int timeoutMs)
        {
            var e = Native.ryre_node_recv(Live, timeoutMs);
            if (e == IntPtr.Zero)
            {
                var code = (ErrorCode)Native.ryre_last_error_code();
                if (code == ErrorCode.Timeout) return null;
                throw Native.Last();
            }
            try
            {
                var ev = new Event
                {
                    Type = (EventType)Native.ryre_event_type(e),
                    PeerUuid = Native.Str(Native.ryre_event_peer_uuid(e)),
                    PeerName = Native.Str(Native.ryre_event_peer_name(e)),
                    Group = Native.Str(Native.ryre_event_group(e)),
                    Endpoint = Native.Str(Native.ryre_event_endpoint(e)),
                    ExitReason = Native.Str(Native.ryre_event_exit_reason(e)),
                };
                var n = (int)(ulong)Native.ryre_event_frame_count(e);
                var frames = new byte[n][];
                for (int i = 0; i < n; i++)
                {
                    var p = Native.CheckPtr(Native.ryre_event_frame(e, (UIntPtr)i, out UIntPtr len));
                    frames[i] = new byte[(int)(ulong)len];
                    if (frames[i].Length > 0) Marshal.Copy(p, frames[i], 0, frames[i].Length);
                }
                ev.Frames = frames;
                var headers = new Dictionary<string, string>();
                var h = (int)(ulong)Native.ryre_event_header_count(e);
                for (int i = 0; i < h; i++)
                {
                    Native.Check(Native.ryre_event_header_at(e, (UIntPtr)i, out IntPtr k, out IntPtr v));
                    headers[Native.Str(k)] = Native.Str(v);
                }
                ev.Headers = headers;
                return ev;
            }
            finally { Native.ryre_event_free(e); }
        }

        /// <summary>A file descriptor readable while events wait (owned by the node).</summary>
        public int Fd
        {
            get
            {
                int fd = Native.ryre_node_fd(Live);
                if (fd < 0) throw Native.Last();
                return fd;
            }
        }

        /// <summary>Ids of the peers that said HELLO.</summary>
        public string[] Peers() => Native.TakeList(Native.ryre_node_peers(Live));
        /// <summary>Ids of the peers in a group.</summary>
        public string[] PeersByGroup(string g) => Native.TakeList(Native.ryre_node_peers_by_group(Live, Native.U(g)));
        /// <summary>Groups this node is in.</summary>
        public string[] OwnGroups() => Native.TakeList(Native.ryre_node_own_groups(Live));
        /// <summary>Groups that peers are in.</summary>
        public string[] PeerGroups() => Native.TakeList(Native.ryre_node_peer_groups(Live));
        /// <summary>A peer's name, or null when unknown.</summary>
        public string PeerName(string peer) => Native.TakeString(Native.ryre_node_peer_name(Live, Native.U(peer)));
        /// <summary>A peer's endpoint, or null when unknown.</summary>
        public string PeerAddress(string peer) => Native.TakeString(Native.ryre_node_peer_address(Live, Native.U(peer)));
        /// <summary>A peer's HELLO header, or null.</summary>
        public string PeerHeader(string peer, string key) => Native.TakeString(Native.ryre_node_peer_header(Live, Native.U(peer), Native.U(key)));
        /// <summary>The leader of a group, or null.</summary>
        public string Leader(string group) => Native.TakeString(Native.ryre_node_leader(Live, Native.U(group)));

        /// <summary>Stops the node (Stop is its last event).</summary>
        public void Stop() => Native.Check(Native.ryre_node_stop(Live));

        /// <summary>Stops (if running) and frees the node.</summary>
        public void Dispose()
        {
            if (ptr != IntPtr.Zero)
            {
                Native.ryre_node_destroy(ptr);
                ptr = IntPtr.Zero;
            }
            GC.SuppressFinalize(this);
        }

        /// <summary>Frees a node that was never disposed.</summary>
        ~Node()
        {
            if (ptr != IntPtr.Zero) Native.ryre_node_destroy(ptr);
        }
    }
}
