# frozen_string_literal: true

# Tests of the Ruby binding against real nodes on loopback (and, with --interop, against a
# `ryre node` process in the network namespace this runs in). No test framework: each test is a
# method; the closing line is "N passed, N failed"; the exit code is 1 when anything failed.
#
#   ruby bindings/ruby/test/test_ryre.rb                      # the binding's own tests
#   ruby bindings/ruby/test/test_ryre.rb --interop PORT NAME  # meet `ryre node --echo` NAME
#   ruby bindings/ruby/test/test_ryre.rb --bench N            # whisper throughput at 16 B
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "ryre"

WAIT = 10.0

def wait_for(node, type, timeout = WAIT)
  deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
  loop do
    left = deadline - Process.clock_gettime(Process::CLOCK_MONOTONIC)
    raise "no #{type} within #{timeout} s" if left <= 0

    ev = node.recv(left)
    return ev if ev && ev.type == type && (!block_given? || yield(ev))
  end
end

def check(cond, what)
  raise "check failed: #{what}" unless cond
end

def pair(port)
  opts = { interface: "lo", port: port, interval: 0.1, stop_flush: 0.2 }
  Ryre::Node.open("alice", headers: { "X-LANG" => "ruby" }, **opts) do |a|
    Ryre::Node.open("bob", **opts) { |b| yield a, b }
  end
end

def test_two_nodes_meet_join_shout_whisper_leave_stop
  pair(Ryre.private_port) do |a, b|
    ev = wait_for(b, :enter)
    check ev.peer_uuid == a.uuid && ev.peer_name == "alice", "enter names alice"
    check ev.headers == { "X-LANG" => "ruby" }, "headers #{ev.headers}"
    check ev.endpoint == a.endpoint, "endpoint"
    wait_for(a, :enter)
    a.join("chat")
    b.join("chat")
    ev = wait_for(b, :join)
    check ev.group == "chat" && ev.peer_name == "alice", "join"
    wait_for(a, :join)
    check b.peers == [a.uuid], "peers"
    check b.peers_by_group("chat") == [a.uuid], "peers_by_group"
    check a.own_groups == ["chat"] && b.peer_groups == ["chat"], "groups"
    check b.peer_name(a.uuid) == "alice", "peer_name"
    check b.peer_header(a.uuid, "X-LANG") == "ruby", "peer_header"
    check b.peer_address(a.uuid) == a.endpoint, "peer_address"
    a.shout("chat", "héllo", "\x00\xffbin".b)
    ev = wait_for(b, :shout)
    check ev.group == "chat" && ev.text == "héllo" && ev.frames[1] == "\x00\xffbin".b, ev.inspect
    b.whisper(a.uuid, "psst")
    ev = wait_for(a, :whisper)
    check ev.text == "psst" && ev.peer_name == "bob", ev.inspect
    a.leave("chat")
    ev = wait_for(b, :leave)
    check ev.group == "chat", "leave"
    a.stop
    wait_for(a, :stop)
    ev = wait_for(b, :exit) { |e| e.peer_uuid == a.uuid }
    check !ev.exit_reason.to_s.empty?, "exit reason"
    begin
      a.recv(1.0)
      raise "recv after stop did not raise"
    rescue Ryre::Error => e
      check e.code == :stopped, e.message
    end
  end
end

def test_io_select_wakes_on_an_event
  pair(Ryre.private_port) do |a, b|
    wait_for(a, :enter)
    wait_for(b, :enter)
    io = a.io
    check IO.select([io], nil, nil, 0).nil?, "nothing waiting yet"
    b.whisper(a.uuid, "wake")
    check IO.select([io], nil, nil, WAIT), "io readable"
    ev = a.recv(0)
    check ev && ev.type == :whisper && ev.text == "wake", ev.inspect
  end
end

def test_errors_are_exceptions
  Ryre::Node.open("solo", interface: "lo", port: Ryre.private_port, discovery: "off") do |n|
    begin
      n.whisper("not-a-uuid", "x")
      raise "no exception"
    rescue Ryre::Error => e
      check e.code == :uuid && e.message.include?("not-a-uuid"), e.message
    end
    begin
      n.whisper("F" * 32, "x")
      raise "no exception"
    rescue Ryre::Error => e
      check e.code == :unknown_peer, e.message
    end
    check n.recv(0).nil?, "timeout is nil"
    check n.peer_name("F" * 32).nil?, "unknown peer name is nil"
    n.stop
    seen = []
    n.each_event { |ev| seen << ev.type }
    check seen == [:stop], "each_event ends after STOP: #{seen}"
  end
  begin
    Ryre::Node.new("x", port: 0)
    raise "no exception"
  rescue Ryre::Error => e
    check e.code == :invalid, e.message
  end
  begin
    Ryre::Node.open("x", interface: "no-such-if0")
    raise "no exception"
  rescue Ryre::Error => e
    check e.code == :network, e.message
  end
  n = Ryre::Node.open("closed", interface: "lo", discovery: "off")
  n.close
  begin
    n.join("g")
    raise "no exception"
  rescue Ryre::Error => e
    check e.code == :state, e.message
  end
end

def expect_error(code)
  yield
  raise "no Ryre::Error #{code}"
rescue Ryre::Error => e
  check e.code == code, e.message
end

# Certified mode with the files scripts/test-bindings.sh makes with `ryre cert` ($RYRE_TEST_PKI):
# alice (secret=all, chat=all), bob (chat=join,shout), root.cert, bob.revocations, tampered/bob.
def test_certified_rights_and_revocation
  pki = ENV.fetch("RYRE_TEST_PKI") { raise "RYRE_TEST_PKI is not set (scripts/test-bindings.sh makes the files)" }
  opts = { interface: "lo", port: Ryre.private_port, interval: 0.1, trust: "#{pki}/root.cert" }
  expect_error(:invalid) { Ryre::Node.open("tampered", certificate: "#{pki}/tampered/bob", **opts).close }
  Ryre::Node.open("alice", certificate: "#{pki}/alice", **opts) do |a|
    Ryre::Node.open("bob", certificate: "#{pki}/bob", **opts) do |b|
      Ryre::Node.open("plain", **opts.except(:trust)) do |plain|
        check a.certified? && b.certified? && !plain.certified?, "certified"
        wait_for(a, :enter) { |e| e.peer_uuid == b.uuid }
        wait_for(b, :enter) { |e| e.peer_uuid == a.uuid }
        expect_error(:protocol) { b.join("secret") }
        expect_error(:protocol) { b.whisper(a.uuid, "hi") }
        a.join("secret")
        a.join("chat")
        ev = wait_for(b, :join)
        check ev.group == "chat", "bob hears of chat only: #{ev.group}"
        check a.peers == [b.uuid], "the plain node never entered alice"
        expect_error(:invalid) { a.add_revocations("/nonexistent/ryre.revocations") }
        a.add_revocations("#{pki}/bob.revocations")
        ev = wait_for(a, :exit) { |e| e.peer_uuid == b.uuid }
        check ev.exit_reason == "revoked", ev.exit_reason
      end
    end
  end
end

# IPv6 on loopback: a gossip hub at tcp://[::1]:* and two nodes that meet through it. Skipped
# (counted as passed) when lo has no ::1.
def test_ipv6_and_gossip
  begin
    hub = Ryre::Node.open("hub6", interface: "lo", ipv6: true, gossip_bind: "tcp://[::1]:*")
  rescue Ryre::Error => e
    puts "SKIP: no IPv6 on lo here (#{e.message})"
    return
  end
  begin
    check hub.gossip_endpoint.start_with?("tcp://[::1]:"), hub.gossip_endpoint
    opts = { interface: "lo", ipv6: true, gossip_connect: [hub.gossip_endpoint] }
    Ryre::Node.open("v6a", **opts) do |x|
      Ryre::Node.open("v6b", **opts) do |y|
        check x.gossip_endpoint.nil?, "no hub"
        ev = wait_for(x, :enter) { |e| e.peer_uuid == y.uuid }
        check ev.endpoint.start_with?("tcp://[::1]:"), ev.endpoint
        wait_for(y, :enter) { |e| e.peer_uuid == x.uuid }
        x.whisper(y.uuid, "v6")
        check wait_for(y, :whisper).text == "v6", "whisper over IPv6"
      end
    end
  ensure
    hub.close
  end
  Ryre::Node.open("both", interface: "lo", dual_stack: true, discovery: "off") do |both|
    check both.endpoint.start_with?("tcp://127.0.0.1:"), both.endpoint
  end
end

def interop(port, name)
  Ryre::Node.open("ruby-interop", interface: "lo", port: port, interval: 0.1, discovery: "beacon") do |n|
    ev = wait_for(n, :enter, 20.0) { |e| e.peer_name == name }
    n.whisper(ev.peer_uuid, "ping from ruby")
    ev = wait_for(n, :whisper, 20.0) { |e| e.peer_name == name }
    check ev.text == "ECHO ping from ruby", ev.inspect
  end
end

def bench(total)
  pair(Ryre.private_port) do |a, b|
    bob = wait_for(a, :enter).peer_uuid
    wait_for(b, :enter)
    payload = "Z" * 16
    t0 = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    got = 0
    while got < total
      round = [1000, total - got].min
      round.times { a.whisper(bob, payload) }
      n = 0
      while n < round
        ev = b.recv(WAIT) or raise "stalled after #{got + n}"
        n += 1 if ev.type == :whisper && ev.frames[0].bytesize == 16
      end
      got += round
    end
    secs = Process.clock_gettime(Process::CLOCK_MONOTONIC) - t0
    puts format("whisper16 ruby %d %.3f %.0f", total, secs, total / secs)
  end
end

def run(tests)
  passed = failed = 0
  tests.each do |name, body|
    body.call
    passed += 1
    puts "ok   #{name}"
  rescue StandardError => e
    failed += 1
    puts "FAIL #{name}: #{e.class}: #{e.message}"
  end
  puts "#{passed} passed, #{failed} failed"
  exit(failed.zero? ? 0 : 1)
end

case ARGV[0]
when "--bench" then bench(Integer(ARGV[1] || 100_000))
when "--interop" then run([["interop_with_ryre_node", -> { interop(Integer(ARGV[1]), ARGV[2]) }]])
else
  run(private_methods.grep(/\Atest_/).sort.map { |m| [m.to_s, method(m)] })
end
