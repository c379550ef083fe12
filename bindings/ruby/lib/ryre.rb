# frozen_string_literal: true

# Ruby binding of ryre (a ZRE node over ZeroMQ) on its C ABI, through ruby-ffi.
#
#   require "ryre"
#   Ryre::Node.open("alice", interface: "lo") do |node|
#     node.join("chat")
#     while (ev = node.recv(5.0))
#       puts "#{ev.type} #{ev.peer_name}"
#     end
#   end
#
# Failures raise Ryre::Error (its #code is a symbol such as :uuid, :unknown_peer, :stopped).
require "ffi"

module Ryre
  # A failed call: #code is the C error as a symbol, the message is ryre_last_error().
  class Error < StandardError
    CODES = {
      -1 => :null, -2 => :utf8, -3 => :invalid, -4 => :state, -5 => :uuid,
      -6 => :unknown_peer, -7 => :stopped, -8 => :timeout, -9 => :network,
      -10 => :protocol, -11 => :system, -12 => :panic, -13 => :range
    }.freeze

    attr_reader :code

    def initialize(code, message)
      @code = CODES.fetch(code, :unknown)
      super("#{message} (#{@code})")
    end
  end

  # The raw C functions (see crates/ryre-ffi/include/ryre.h).
  module Native
    extend FFI::Library

    def self.library_path
      return ENV["RYRE_FFI_LIB"] if ENV["RYRE_FFI_LIB"]

      root = File.expand_path("../../..", __dir__)
      %w[release debug].map { |p| File.join(root, "target", p, "libryre_ffi.so") }
                       .find { |f| File.exist?(f) } || "ryre_ffi"
    end

    ffi_lib library_path

    attach_function :ryre_last_error, [], :string
    attach_function :ryre_last_error_code, [], :int
    attach_function :ryre_version, [], :string
    attach_function :ryre_private_port, [], :int
    attach_function :ryre_string_free, [:pointer], :void
    attach_function :ryre_list_size, [:pointer], :size_t
    attach_function :ryre_list_item, %i[pointer size_t], :string
    attach_function :ryre_list_free, [:pointer], :void

    attach_function :ryre_node_new, [:string], :pointer
    attach_function :ryre_node_destroy, [:pointer], :void, blocking: true
    attach_function :ryre_node_start, [:pointer], :int, blocking: true
    attach_function :ryre_node_stop, [:pointer], :int, blocking: true
    attach_function :ryre_node_set_header, %i[pointer string string], :int
    %i[interface endpoint discovery rendezvous_path certificate revocations].each do |s|
      attach_function :"ryre_node_set_#{s}", %i[pointer string], :int
    end
    %i[port interval evasive_timeout expired_timeout stop_flush rendezvous_port send_hwm].each do |s|
      attach_function :"ryre_node_set_#{s}", %i[pointer int], :int
    end
    %i[beacon agent verbose ipv6 dual_stack].each do |s|
      attach_function :"ryre_node_set_#{s}", %i[pointer bool], :int
    end
    %i[add_trust gossip_bind gossip_connect add_revocations].each do |s|
      attach_function :"ryre_node_#{s}", %i[pointer string], :int
    end
    attach_function :ryre_node_is_certified, [:pointer], :int
    attach_function :ryre_node_gossip_endpoint, [:pointer], :string
    attach_function :ryre_node_uuid, [:pointer], :string
    attach_function :ryre_node_name, [:pointer], :string
    attach_function :ryre_node_endpoint, [:pointer], :string
    %i[join leave contest_in_group].each do |s|
      attach_function :"ryre_node_#{s}", %i[pointer string], :int
    end
    attach_function :ryre_node_shout_frames, %i[pointer string pointer pointer size_t], :int
    attach_function :ryre_node_whisper_frames, %i[pointer string pointer pointer size_t], :int
    attach_function :ryre_node_connect_peer, %i[pointer string string], :int
    attach_function :ryre_node_recv, %i[pointer int], :pointer, blocking: true
    attach_function :ryre_node_fd, [:pointer], :int
    attach_function :ryre_node_peers, [:pointer], :pointer
    attach_function :ryre_node_peers_by_group, %i[pointer string], :pointer
    attach_function :ryre_node_own_groups, [:pointer], :pointer
    attach_function :ryre_node_peer_groups, [:pointer], :pointer
    attach_function :ryre_node_peer_name, %i[pointer string], :pointer
    attach_function :ryre_node_peer_address, %i[pointer string], :pointer
    attach_function :ryre_node_peer_header, %i[pointer string string], :pointer
    attach_function :ryre_node_leader, %i[pointer string], :pointer

    attach_function :ryre_event_type, [:pointer], :int
    attach_function :ryre_event_type_name, [:int], :string
    attach_function :ryre_event_peer_uuid, [:pointer], :string
    attach_function :ryre_event_peer_name, [:pointer], :string
    attach_function :ryre_event_group, [:pointer], :string
    attach_function :ryre_event_endpoint, [:pointer], :string
    attach_function :ryre_event_exit_reason, [:pointer], :string
    attach_function :ryre_event_frame_count, [:pointer], :size_t
    attach_function :ryre_event_frame, %i[pointer size_t pointer], :pointer
    attach_function :ryre_event_header_count, [:pointer], :size_t
    attach_function :ryre_event_header_at, %i[pointer size_t pointer pointer], :int
    attach_function :ryre_event_free, [:pointer], :void

    # Raises the last error unless rc is 0.
    def self.check(rc)
      raise Error.new(rc, ryre_last_error) if rc != 0

      rc
    end

    # Raises the last error when ptr is NULL.
    def self.check_ptr(ptr)
      raise Error.new(ryre_last_error_code, ryre_last_error) if ptr.null?

      ptr
    end

    # A caller-owned C string as a Ruby string (freed here); nil when NULL.
    def self.take_string(ptr)
      return nil if ptr.null?

      s = ptr.read_string.force_encoding(Encoding::UTF_8)
      ryre_string_free(ptr)
      s
    end

    # A caller-owned list as an array (freed here).
    def self.take_list(ptr)
      check_ptr(ptr)
      Array.new(ryre_list_size(ptr)) { |i| ryre_list_item(ptr, i) }
    ensure
      ryre_list_free(ptr) unless ptr.nil? || ptr.null?
    end
  end

  # The library version.
  def self.version
    Native.ryre_version
  end

  # A port for a private group of nodes on this machine (use with interface "lo").
  def self.private_port
    port = Native.ryre_private_port
    raise Error.new(port, Native.ryre_last_error) if port.negative?

    port
  end

  # One event: a plain Ruby object, copied out of the C event (which is freed at once).
  class Event
    # :enter, :exit, :join, :leave, :whisper, :shout, :evasive, :silent, :leader, :stop
    attr_reader :type
    # The peer's id (32 hex digits) and name.
    attr_reader :peer_uuid, :peer_name
    # The group (join, leave, shout, leader), the endpoint (enter), why (exit), or nil.
    attr_reader :group, :endpoint, :exit_reason
    # Content frames (binary strings) and HELLO headers (a hash; enter only).
    attr_reader :frames, :headers

    def initialize(ptr)
      @type = Native.ryre_event_type_name(Native.ryre_event_type(ptr)).downcase.to_sym
      @peer_uuid = Native.ryre_event_peer_uuid(ptr)
      @peer_name = utf8(Native.ryre_event_peer_name(ptr))
      @group = utf8(Native.ryre_event_group(ptr))
      @endpoint = Native.ryre_event_endpoint(ptr)
      @exit_reason = Native.ryre_event_exit_reason(ptr)
      len = FFI::MemoryPointer.new(:size_t)
      @frames = Array.new(Native.ryre_event_frame_count(ptr)) do |i|
        Native.ryre_event_frame(ptr, i, len).read_bytes(len.read(:size_t))
      end
      k = FFI::MemoryPointer.new(:pointer)
      v = FFI::MemoryPointer.new(:pointer)
      @headers = {}
      Native.ryre_event_header_count(ptr).times do |i|
        Native.check(Native.ryre_event_header_at(ptr, i, k, v))
        @headers[utf8(k.read_pointer.read_string)] = utf8(v.read_pointer.read_string)
      end
    end

    # The first frame as a UTF-8 string (nil when there is none).
    def text
      frames.first&.dup&.force_encoding(Encoding::UTF_8)
    end

    def inspect
      "#<Ryre::Event #{type} #{peer_name}#{group ? " #{group}" : ''}#{frames.empty? ? '' : " #{frames.inspect}"}>"
    end

    private

    def utf8(s)
      s&.force_encoding(Encoding::UTF_8)
    end
  end

  # A ZRE node. Node.open(...) { |node| ... } starts it and always destroys it after the block;
  # Node.new(...) + #start + #close is the same without a block.
  class Node
    SETTINGS = %i[interface port interval evasive_timeout expired_timeout stop_flush endpoint
                  discovery rendezvous_port rendezvous_path agent verbose send_hwm beacon ipv6
                  dual_stack certificate revocations].freeze
    # Settings given in seconds (the C ABI takes milliseconds).
    SECONDS = %i[interval evasive_timeout expired_timeout stop_flush].freeze
    # Settings that take one value or a list of them (each one call).
    REPEATABLE = { trust: :ryre_node_add_trust, gossip_bind: :ryre_node_gossip_bind,
                   gossip_connect: :ryre_node_gossip_connect }.freeze

    # Starts a node, yields it and destroys it when the block ends (however it ends). Without a
    # block, returns the started node (call #close).
    def self.open(name = nil, **settings)
      node = new(name, **settings)
      begin
        node.start
      rescue StandardError
        node.close
        raise
      end
      return node unless block_given?

      begin
        yield node
      ensure
        node.close
      end
    end

    # An unstarted node. Settings: interface:, port:, interval: (seconds), evasive_timeout:,
    # expired_timeout:, stop_flush: (seconds), endpoint:, discovery: ("auto", "local",
    # "beacon", "off"), rendezvous_port:, rendezvous_path:, agent:, verbose:, send_hwm:, beacon:,
    # headers: {}, ipv6:, dual_stack:, gossip_bind: (an endpoint), gossip_connect: (one or a list);
    # certified mode: certificate: ("DIR/NAME" of `ryre cert issue`), trust: (one CA.cert path
    # or a list), revocations: (a file kept up to date).
    def initialize(name = nil, headers: {}, **settings)
      @ptr = Native.check_ptr(Native.ryre_node_new(name))
      headers.each { |k, v| Native.check(Native.ryre_node_set_header(@ptr, k.to_s, v.to_s)) }
      settings.each do |key, value|
        if (fn = REPEATABLE[key])
          Array(value).each { |v| Native.check(Native.send(fn, @ptr, v.to_s)) }
          next
        end
        raise ArgumentError, "unknown setting #{key}" unless SETTINGS.include?(key)

        value = (value * 1000).round if SECONDS.include?(key)
        Native.check(Native.send(:"ryre_node_set_#{key}", @ptr, value))
      end
    end

    # Starts the node.
    def start
      Native.check(Native.ryre_node_start(live))
      self
    end

    # Own id, name, endpoint.
    def uuid = Native.check_ptr_string(:ryre_node_uuid, live)
    def name = Native.check_ptr_string(:ryre_node_name, live)
    def endpoint = Native.check_ptr_string(:ryre_node_endpoint, live)

    # The gossip hub's bound endpoint (the port chosen for "*"); nil when this node serves no
    # gossip (or has not started).
    def gossip_endpoint = Native.ryre_node_gossip_endpoint(live)

    # Whether the started node runs in certified mode.
    def certified?
      r = Native.ryre_node_is_certified(live)
      raise Error.new(Native.ryre_last_error_code, Native.ryre_last_error) if r.negative?

      r == 1
    end

    # Certified mode: hands the running node a revocation file (of `ryre cert revoke`): the peers
    # it revokes are dropped (exit reason "revoked") and it is passed on to every certified peer.
    def add_revocations(path) = Native.check(Native.ryre_node_add_revocations(live, path))

    # Group membership and elections.
    def join(group) = Native.check(Native.ryre_node_join(live, group))
    def leave(group) = Native.check(Native.ryre_node_leave(live, group))
    def contest_in_group(group) = Native.check(Native.ryre_node_contest_in_group(live, group))

    # Sends frames (strings) to every peer in a group.
    def shout(group, *frames)
      with_frames(frames) { |p, l, n| Native.check(Native.ryre_node_shout_frames(live, group, p, l, n)) }
    end

    # Sends frames (strings) to one peer (its 32-hex-digit id).
    def whisper(peer, *frames)
      with_frames(frames) { |p, l, n| Native.check(Native.ryre_node_whisper_frames(live, peer, p, l, n)) }
    end

    # Introduces a peer by id and endpoint.
    def connect_peer(peer, endpoint) = Native.check(Native.ryre_node_connect_peer(live, peer, endpoint))

    # The next event within timeout seconds (nil: wait for ever); nil on timeout. Raises
    # Ryre::Error (:stopped) once the node has stopped and its events are taken.
    def recv(timeout = nil)
      ms = timeout.nil? ? -1 : (timeout * 1000).round
      ptr = Native.ryre_node_recv(live, ms)
      if ptr.null?
        code = Native.ryre_last_error_code
        return nil if code == -8

        raise Error.new(code, Native.ryre_last_error)
      end
      begin
        Event.new(ptr)
      ensure
        Native.ryre_event_free(ptr)
      end
    end

    # Each event until the block breaks or the node stops.
    def each_event
      loop do
        ev = recv
        yield ev
      rescue Error => e
        break if e.code == :stopped

        raise
      end
    end

    # An IO readable while events wait (for IO.select). Owned by the node: do not close it.
    def io
      @io ||= IO.for_fd(Native.ryre_node_fd(live).tap { |fd| Native.check(fd) if fd.negative? },
                        autoclose: false)
    end

    # Peers (ids), by group, own and peers' groups.
    def peers = Native.take_list(Native.ryre_node_peers(live))
    def peers_by_group(group) = Native.take_list(Native.ryre_node_peers_by_group(live, group))
    def own_groups = Native.take_list(Native.ryre_node_own_groups(live))
    def peer_groups = Native.take_list(Native.ryre_node_peer_groups(live))

    # What is known of a peer (nil when unknown).
    def peer_name(peer) = Native.take_string(Native.ryre_node_peer_name(live, peer))
    def peer_address(peer) = Native.take_string(Native.ryre_node_peer_address(live, peer))
    def peer_header(peer, key) = Native.take_string(Native.ryre_node_peer_header(live, peer, key))
    def leader(group) = Native.take_string(Native.ryre_node_leader(live, group))

    # Stops the node (STOP is its last event).
    def stop = Native.check(Native.ryre_node_stop(live))

    # Stops (if running) and frees the node; later calls raise Ryre::Error (:state).
    def close
      Native.ryre_node_destroy(@ptr) if @ptr
      @ptr = nil
    end

    def closed? = @ptr.nil?

    private

    def live
      raise Error.new(-4, "the node is closed") if @ptr.nil?

      @ptr
    end

    def with_frames(frames)
      frames = frames.map { |f| f.to_s.b }
      bufs = frames.map { |f| FFI::MemoryPointer.from_string(f) }
      ptrs = FFI::MemoryPointer.new(:pointer, [frames.size, 1].max)
      lens = FFI::MemoryPointer.new(:size_t, [frames.size, 1].max)
      ptrs.write_array_of_pointer(bufs)
      lens.put_array_of_ulong(0, frames.map(&:bytesize)) unless frames.empty? # size_t on LP64
      yield ptrs, lens, frames.size
    end
  end

  module Native
    # A node-owned string, raising when NULL.
    def self.check_ptr_string(fn, ptr)
      s = send(fn, ptr)
      raise Error.new(ryre_last_error_code, ryre_last_error) if s.nil?

      s
    end
  end
end
