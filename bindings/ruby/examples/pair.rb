# Two nodes on loopback meet, and alice whispers to bob: `ruby bindings/ruby/examples/pair.rb`
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "ryre"

port = Ryre.private_port
opts = { interface: "lo", port: port, interval: 0.1 }
Ryre::Node.open("alice", **opts) do |alice|
  Ryre::Node.open("bob", **opts) do |bob|
    enter = nil
    enter = alice.recv(10.0) until enter&.type == :enter
    puts "alice met #{enter.peer_name}"
    alice.whisper(enter.peer_uuid, "hello from Ruby")
    msg = nil
    msg = bob.recv(10.0) until msg&.type == :whisper
    puts "bob got #{msg.text.inspect} from #{msg.peer_name}"
  end
end
