//! The API's routes, written once: the router is built from this table and the OpenAPI 3
//! document describes the same table (a test holds the two together over real HTTP).

use axum::http::Method;
use axum::routing::{self, MethodRouter};
use axum::{Json, Router};
use serde_json::{json, Map, Value};

use crate::{api, logs, services, stream, App};

/// One API route: a method and a path (axum's `{param}` syntax, as in OpenAPI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Route {
    /// `GET`, `POST`, `PUT` or `DELETE`.
    pub method: &'static str,
    /// The path, e.g. `/api/v1/peers/{uuid}`.
    pub path: &'static str,
}

/// A route with its handler and its OpenAPI operation.
struct RouteDef {
    route: Route,
    handler: fn() -> MethodRouter<App>,
    operation: fn() -> Value,
}

const NODE: &str = "/api/v1/node";
const PEERS: &str = "/api/v1/peers";
const PEER: &str = "/api/v1/peers/{uuid}";
const PEER_MESSAGES: &str = "/api/v1/peers/{uuid}/messages";
const GROUPS: &str = "/api/v1/groups";
const GROUP: &str = "/api/v1/groups/{group}";
const GROUP_MESSAGES: &str = "/api/v1/groups/{group}/messages";
const EVENTS: &str = "/api/v1/events";
const WS: &str = "/api/v1/ws";
const LOGS: &str = "/api/v1/logs";
const LOG_EVENTS: &str = "/api/v1/logs/events";
const SERVICE_TIMER: &str = "/api/v1/services/timer";
const SERVICE_PIPELINE: &str = "/api/v1/services/pipeline";
const SERVICE_EVENTS: &str = "/api/v1/services/events";
const OPENAPI: &str = "/api/v1/openapi.json";

fn def(
    method: &'static str,
    path: &'static str,
    handler: fn() -> MethodRouter<App>,
    operation: fn() -> Value,
) -> RouteDef {
    RouteDef {
        route: Route { method, path },
        handler,
        operation,
    }
}

fn table() -> Vec<RouteDef> {
    vec![
        def("GET", NODE, || routing::get(api::node), op_node),
        def("GET", PEERS, || routing::get(api::peers), op_peers),
        def("GET", PEER, || routing::get(api::peer), op_peer),
        def(
            "POST",
            PEER_MESSAGES,
            || routing::post(api::whisper),
            op_whisper,
        ),
        def("GET", GROUPS, || routing::get(api::groups), op_groups),
        def("PUT", GROUP, || routing::put(api::join), op_join),
        def("DELETE", GROUP, || routing::delete(api::leave), op_leave),
        def(
            "POST",
            GROUP_MESSAGES,
            || routing::post(api::shout),
            op_shout,
        ),
        def("GET", EVENTS, || routing::get(stream::sse), op_events),
        def("GET", WS, || routing::get(stream::ws), op_ws),
        def("GET", LOGS, || routing::get(logs::list), op_logs),
        def("GET", LOG_EVENTS, || routing::get(logs::sse), op_log_events),
        def(
            "GET",
            SERVICE_TIMER,
            || routing::get(services::timer),
            op_service_timer,
        ),
        def(
            "GET",
            SERVICE_PIPELINE,
            || routing::get(services::pipeline),
            op_service_pipeline,
        ),
        def(
            "GET",
            SERVICE_EVENTS,
            || routing::get(services::sse),
            op_service_events,
        ),
        def(
            "GET",
            OPENAPI,
            || routing::get(|| async { Json(openapi_document()) }),
            op_openapi,
        ),
    ]
}

/// Every API route the bridge serves (the dashboard's static files aside).
pub fn routes() -> Vec<Route> {
    table().into_iter().map(|d| d.route).collect()
}

/// The router of the API, built from the route table.
pub(crate) fn api_router() -> Router<App> {
    table().into_iter().fold(Router::new(), |r, d| {
        debug_assert!(Method::from_bytes(d.route.method.as_bytes()).is_ok());
        r.route(d.route.path, (d.handler)())
    })
}

/// The OpenAPI 3.1 document of the API.
pub fn openapi_document() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for d in table() {
        let item = paths
            .entry(d.route.path.to_string())
            .or_insert_with(|| json!({}));
        if let Value::Object(ops) = item {
            ops.insert(d.route.method.to_ascii_lowercase(), (d.operation)());
        }
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "ryre bridge",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "A ZRE (RFC 36) node over HTTP: its peers and groups, shout and \
                whisper, and its live events as Server-Sent Events or a WebSocket. Errors are \
                RFC 9457 problem details.",
        },
        "paths": paths,
        "components": components(),
        "security": [{}, {"bearer": []}],
    })
}

fn problem(desc: &str) -> Value {
    json!({
        "description": desc,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

fn ok_json(desc: &str, schema: &str) -> Value {
    json!({
        "description": desc,
        "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{schema}")}}}
    })
}

fn uuid_param() -> Value {
    json!({"name": "uuid", "in": "path", "required": true,
           "description": "The peer's id: 32 hex digits.",
           "schema": {"type": "string", "pattern": "^[0-9A-Fa-f]{32}$"}})
}

fn group_param() -> Value {
    json!({"name": "group", "in": "path", "required": true,
           "description": "The group's name (1 to 255 bytes).",
           "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
}

fn common_errors(mut responses: Map<String, Value>) -> Value {
    responses.insert(
        "401".into(),
        problem("No valid bearer token (when one is configured)."),
    );
    responses.insert("503".into(), problem("The node is stopping."));
    Value::Object(responses)
}

fn responses(list: &[(&str, Value)]) -> Value {
    common_errors(
        list.iter()
            .map(|(k, v)| ((*k).to_string(), v.clone()))
            .collect(),
    )
}

fn message_body() -> Value {
    json!({
        "required": true,
        "description": "Any content type is sent as one frame, as it is. `application/json` \
            must be `{\"frames\": [base64, ...]}` and sends several frames.",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/Frames"}},
            "*/*": {"schema": {"type": "string", "format": "binary"}}
        }
    })
}

fn stream_params() -> Value {
    json!([
        {"name": "group", "in": "query", "required": false,
         "description": "Only events of this group (JOIN, LEAVE, SHOUT, LEADER).",
         "schema": {"type": "string"}},
        {"name": "type", "in": "query", "required": false,
         "description": "Only these event types, comma-separated (e.g. SHOUT,JOIN).",
         "schema": {"type": "string"}},
        {"name": "access_token", "in": "query", "required": false,
         "description": "The bearer token, for clients that cannot set headers.",
         "schema": {"type": "string"}}
    ])
}

fn op_node() -> Value {
    json!({"operationId": "getNode", "summary": "This node: uuid, name, endpoint, groups.",
           "responses": responses(&[("200", ok_json("The node.", "Node"))])})
}

fn op_peers() -> Value {
    json!({"operationId": "listPeers", "summary": "Every peer that has said HELLO.",
           "responses": responses(&[("200", ok_json("The peers.", "PeerList"))])})
}

fn op_peer() -> Value {
    json!({"operationId": "getPeer", "summary": "One peer.",
    "parameters": [uuid_param()],
    "responses": responses(&[
        ("200", ok_json("The peer.", "Peer")),
        ("400", problem("Not a peer id.")),
        ("404", problem("No such peer.")),
    ])})
}

fn op_whisper() -> Value {
    json!({"operationId": "whisper", "summary": "Whisper to one peer.",
    "parameters": [uuid_param()],
    "requestBody": message_body(),
    "responses": responses(&[
        ("204", json!({"description": "Sent (queued to the peer)."})),
        ("400", problem("Not a peer id, or a bad JSON body.")),
        ("404", problem("No such peer.")),
        ("413", problem("The body is over the limit.")),
    ])})
}

fn op_groups() -> Value {
    json!({"operationId": "listGroups", "summary": "Every group with its members.",
           "responses": responses(&[("200", ok_json("The groups.", "GroupList"))])})
}

fn op_join() -> Value {
    json!({"operationId": "joinGroup", "summary": "Join a group.",
    "parameters": [group_param()],
    "responses": responses(&[
        ("204", json!({"description": "Joined (or was in it)."})),
        ("400", problem("Not a group name ZRE can carry.")),
    ])})
}

fn op_leave() -> Value {
    json!({"operationId": "leaveGroup", "summary": "Leave a group.",
    "parameters": [group_param()],
    "responses": responses(&[
        ("204", json!({"description": "Left (or was not in it)."})),
        ("400", problem("Not a group name ZRE can carry.")),
    ])})
}

fn op_shout() -> Value {
    json!({"operationId": "shout", "summary": "Shout to every peer in a group.",
    "parameters": [group_param()],
    "requestBody": message_body(),
    "responses": responses(&[
        ("204", json!({"description": "Sent (queued to the group's peers)."})),
        ("400", problem("A bad group name or JSON body.")),
        ("413", problem("The body is over the limit.")),
    ])})
}

fn op_events() -> Value {
    json!({"operationId": "events",
    "summary": "The live events as Server-Sent Events.",
    "description": "First a `ready` event, then one event per node event (`event:` is \
        its type, `id:` its sequence number, `data:` the Event JSON). A final `close` \
        event says why the stream ends: `lagged` (the client fell more than its buffer \
        behind) or `stopped`.",
    "parameters": stream_params(),
    "responses": responses(&[
        ("200", json!({"description": "The stream.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}}})),
        ("400", problem("An unknown event type or a bad query.")),
    ])})
}

fn op_ws() -> Value {
    json!({"operationId": "websocket",
    "summary": "The live events over a WebSocket, which also takes commands.",
    "description": "Text messages out: a READY object, then Event objects, then a CLOSE \
        object and a close frame (1013 when the client fell behind, 1001 when the node \
        stopped). Text messages in: Command objects; each is answered with \
        `{\"type\":\"ACK\",\"id\":..}` or `{\"type\":\"ERROR\",\"id\":..,\"problem\":..}`. \
        A text message may also be a JSON array of Command objects (a batch): they run in \
        order and the answer is one text message, the JSON array of their replies in the same \
        order (an error in one does not stop the others; a message that is not a JSON array \
        at all gets one ERROR object).",
    "parameters": stream_params(),
    "responses": responses(&[
        ("101", json!({"description": "Switching to the WebSocket protocol."})),
        ("400", problem("An unknown event type or a bad query.")),
        ("426", problem("Not a WebSocket upgrade request.")),
    ])})
}

fn log_filter_params() -> Vec<Value> {
    vec![
        json!({"name": "level", "in": "query", "required": false,
         "description": "Only records of this level and more severe: error, warn, info, debug \
            or trace (the collector's own level bounds what there is).",
         "schema": {"type": "string"}}),
        json!({"name": "node", "in": "query", "required": false,
         "description": "Only this node's records: its 32-hex id, or its name.",
         "schema": {"type": "string", "minLength": 1, "maxLength": 255}}),
    ]
}

fn logs_disabled() -> (&'static str, Value) {
    (
        "404",
        problem("The bridge hosts no log collector (logs are off)."),
    )
}

fn op_logs() -> Value {
    let mut params = vec![json!({"name": "n", "in": "query", "required": false,
        "description": "How many of the newest matching records (default 200).",
        "schema": {"type": "integer", "minimum": 1, "maximum": logs::MAX_N}})];
    params.extend(log_filter_params());
    params.push(
        json!({"name": "access_token", "in": "query", "required": false,
        "description": "The bearer token, for clients that cannot set headers.",
        "schema": {"type": "string"}}),
    );
    json!({"operationId": "logs",
    "summary": "The mesh's newest log records and their rates, from the bridge's collector.",
    "description": "Records come from the memory ring of the log collector the bridge hosts \
        (a ryre-log collector node named `<bridge>-logs`), oldest first. `rates` are the \
        per-second counts per node and level of the last minutes (not filtered).",
    "parameters": params,
    "responses": responses(&[
        ("200", ok_json("The records.", "LogList")),
        ("400", problem("A bad n, level or node.")),
        logs_disabled(),
    ])})
}

fn op_log_events() -> Value {
    let mut params = log_filter_params();
    params.push(
        json!({"name": "access_token", "in": "query", "required": false,
        "description": "The bearer token, for clients that cannot set headers.",
        "schema": {"type": "string"}}),
    );
    json!({"operationId": "logEvents",
    "summary": "The mesh's log records live, as Server-Sent Events.",
    "description": "First a `ready` event (the collector), then a `record` event per record \
        that passes the filter (`data:` a LogRecord) and a `rate` event at the end of every \
        second (`data:` a LogRate, for every node and level whatever the filter). A final \
        `close` event says why the stream ends: `lagged` (the client fell more than its \
        buffer behind) or `stopped`.",
    "parameters": params,
    "responses": responses(&[
        ("200", json!({"description": "The stream.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}}})),
        ("400", problem("A bad level or node, or n (which only GET /api/v1/logs takes).")),
        logs_disabled(),
    ])})
}

fn services_disabled() -> (&'static str, Value) {
    (
        "404",
        problem("The bridge hosts no services watcher (services are off)."),
    )
}

fn rate_param() -> Value {
    json!({"name": "rate", "in": "query", "required": false,
     "description": "Only this tick rate, in Hz.",
     "schema": {"type": "integer", "minimum": 1, "maximum": 1000}})
}

fn cluster_param() -> Value {
    json!({"name": "cluster", "in": "query", "required": false,
     "description": "Only this pipeline cluster.",
     "schema": {"type": "string", "minLength": 1, "maxLength": 200}})
}

fn token_param() -> Value {
    json!({"name": "access_token", "in": "query", "required": false,
    "description": "The bearer token, for clients that cannot set headers.",
    "schema": {"type": "string"}})
}

fn op_service_timer() -> Value {
    json!({"operationId": "serviceTimer",
    "summary": "The timer service as the mesh shows it: timer nodes, rates, who ticks each.",
    "description": "From the bridge's services watcher (a node named `<bridge>-services`): the \
        timer nodes (their X-RYRE-TIMER HELLO header), and per rate the node whose ticks it \
        accepts (the rate's elected ticker), ticks received, missed (gaps in the numbering), \
        refused, the rate measured over the last second and the lateness histogram (received \
        minus scheduled; `le_us` null is the overflow bucket).",
    "parameters": [rate_param(), token_param()],
    "responses": responses(&[
        ("200", ok_json("The timer service.", "TimerView")),
        ("400", problem("A bad rate.")),
        services_disabled(),
    ])})
}

fn op_service_pipeline() -> Value {
    json!({"operationId": "servicePipeline",
    "summary": "The reliable pipeline as the mesh shows it: batches, workers, re-deals.",
    "description": "From the bridge's services watcher (a node named `<bridge>-services`), per \
        cluster: its clients, workers and collectors (their X-RYRE-PIPELINE and \
        X-RYRE-PIPELINE-CLUSTER HELLO headers), what each reports to the cluster's status \
        group `pipeline/<cluster>/status` (which the watcher joins; roles report there at most \
        twice a second, only while someone watches and something changed): tasks done and \
        held, tasks per second over the last 5 s; the batches (running first, then the 32 \
        newest that ended) with their progress: done, at workers, at the collector, pending, \
        dealt again; and the re-deals of all its clients. Nodes that left stay a minute, \
        `gone`. Batch ids are 16 hex digits.",
    "parameters": [cluster_param(), token_param()],
    "responses": responses(&[
        ("200", ok_json("The pipeline service.", "PipelineView")),
        ("400", problem("A bad cluster.")),
        services_disabled(),
    ])})
}

fn op_service_events() -> Value {
    json!({"operationId": "serviceEvents",
    "summary": "The services live, as Server-Sent Events.",
    "description": "First a `ready` event (the watcher), then twice a second a `timer` event \
        (`data:` a TimerView, filtered by `rate`) and a `pipeline` event (`data:` a \
        PipelineView, filtered by `cluster`), and a final `close` event (`stopped`) when the \
        bridge stops.",
    "parameters": [rate_param(), cluster_param(), token_param()],
    "responses": responses(&[
        ("200", json!({"description": "The stream.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}}})),
        ("400", problem("A bad rate or cluster.")),
        services_disabled(),
    ])})
}

fn op_openapi() -> Value {
    json!({"operationId": "openapi", "summary": "This document.",
           "responses": responses(&[("200", json!({"description": "OpenAPI 3.1.",
               "content": {"application/json": {"schema": {"type": "object"}}}}))])})
}

fn components() -> Value {
    let mut c = json!({
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {
            "Problem": {"type": "object", "required": ["type", "title", "status"],
                "properties": {"type": {"type": "string"}, "title": {"type": "string"},
                    "status": {"type": "integer"}, "detail": {"type": "string"}}},
            "Node": {"type": "object", "required": ["uuid", "name", "endpoint", "groups"],
                "properties": {"uuid": {"type": "string"}, "name": {"type": "string"},
                    "endpoint": {"type": "string"},
                    "groups": {"type": "array", "items": {"type": "string"}},
                    "peers": {"type": "integer"},
                    "events": {"type": "integer",
                        "description": "Events the bridge has taken from its node so far."}}},
            "Peer": {"type": "object",
                "required": ["uuid", "name", "endpoint", "groups", "headers", "state"],
                "properties": {"uuid": {"type": "string"}, "name": {"type": "string"},
                    "endpoint": {"type": "string"},
                    "groups": {"type": "array", "items": {"type": "string"}},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                    "state": {"enum": ["alive", "evasive", "silent"]}}},
            "PeerList": {"type": "object", "required": ["peers"],
                "properties": {"peers": {"type": "array",
                    "items": {"$ref": "#/components/schemas/Peer"}}}},
            "GroupList": {"type": "object", "required": ["groups"],
                "properties": {"groups": {"type": "array", "items": {"type": "object",
                    "required": ["name", "joined", "members"],
                    "properties": {"name": {"type": "string"}, "joined": {"type": "boolean"},
                        "members": {"type": "array", "items": {"type": "object",
                            "properties": {"uuid": {"type": "string"},
                                "name": {"type": "string"}, "self": {"type": "boolean"}}}}}}}}},
            "Frames": {"type": "object", "required": ["frames"], "additionalProperties": false,
                "properties": {"frames": {"type": "array", "minItems": 1,
                    "items": {"type": "string", "contentEncoding": "base64"}}}},
            "Event": {"type": "object", "required": ["type", "seq", "peer", "name"],
                "properties": {
                    "type": {"enum": ["ENTER", "EXIT", "JOIN", "LEAVE", "WHISPER", "SHOUT",
                                      "EVASIVE", "SILENT", "LEADER"]},
                    "seq": {"type": "integer"}, "peer": {"type": "string"},
                    "name": {"type": "string"}, "group": {"type": "string"},
                    "endpoint": {"type": "string"},
                    "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                    "reason": {"type": "string"},
                    "frames": {"type": "array", "items": {"type": "string",
                        "contentEncoding": "base64"}},
                    "text": {"type": "string",
                        "description": "The first frame, when it is valid UTF-8."},
                    "bytes": {"type": "integer"}}},
            "LogRecord": {"type": "object",
                "required": ["seq", "time", "ts", "level", "node", "name", "target", "message"],
                "properties": {"seq": {"type": "integer",
                        "description": "The publisher's number for this level."},
                    "time": {"type": "string", "format": "date-time"},
                    "ts": {"type": "integer", "description": "ns since the Unix epoch"},
                    "level": {"enum": ["ERROR", "WARN", "INFO", "DEBUG", "TRACE"]},
                    "node": {"type": "string"}, "name": {"type": "string"},
                    "target": {"type": "string"}, "message": {"type": "string"},
                    "fields": {"type": "object", "additionalProperties": {"type": "string"}},
                    "spans": {"type": "array", "items": {"type": "string"}}}},
            "LogRate": {"type": "object", "required": ["type", "t", "nodes"],
                "properties": {"type": {"const": "RATE"},
                    "t": {"type": "integer", "description": "The second (Unix time) counted."},
                    "nodes": {"type": "array", "items": {"type": "object",
                        "properties": {"node": {"type": "string"}, "name": {"type": "string"},
                            "counts": {"type": "object",
                                "description": "Records per level name (absent: none).",
                                "additionalProperties": {"type": "integer"}}}}}}},
            "LogList": {"type": "object", "required": ["collector", "records", "rates"],
                "properties": {
                    "collector": {"type": "object", "properties": {
                        "uuid": {"type": "string"}, "name": {"type": "string"},
                        "endpoint": {"type": "string"}, "level": {"type": "string"},
                        "memory": {"type": "integer"}}},
                    "stats": {"type": "object",
                        "additionalProperties": {"type": "integer"}},
                    "records": {"type": "array",
                        "items": {"$ref": "#/components/schemas/LogRecord"}},
                    "rates": {"type": "array",
                        "items": {"$ref": "#/components/schemas/LogRate"}}}},
            "Command": {"type": "object", "required": ["op"],
                "properties": {"op": {"enum": ["shout", "whisper", "join", "leave"]},
                    "group": {"type": "string"}, "peer": {"type": "string"},
                    "text": {"type": "string"},
                    "frames": {"type": "array", "items": {"type": "string",
                        "contentEncoding": "base64"}},
                    "id": {"description": "Echoed in the reply."}}}
        }
    });
    if let Some(Value::Object(m)) = c.get_mut("schemas") {
        m.insert("TimerView".into(), timer_view_schema());
        m.insert("PipelineView".into(), pipeline_view_schema());
    }
    c
}

fn timer_view_schema() -> Value {
    json!({"type": "object", "required": ["watcher", "nodes", "rates"],
                "properties": {
                    "watcher": {"type": "object", "properties": {
                        "uuid": {"type": "string"}, "name": {"type": "string"}}},
                    "nodes": {"type": "array", "items": {"type": "object",
                        "properties": {"uuid": {"type": "string"}, "name": {"type": "string"},
                            "endpoint": {"type": "string"},
                            "rates": {"type": "array", "items": {"type": "integer"}}}}},
                    "rates": {"type": "array", "items": {"type": "object",
                        "required": ["rate", "group", "ticker", "ticks", "lateness"],
                        "properties": {"rate": {"type": "integer"},
                            "group": {"type": "string"},
                            "ticker": {"type": ["object", "null"],
                                "description": "The node whose ticks were accepted last."},
                            "tickers": {"type": "array", "items": {"type": "object"}},
                            "measured_hz": {"type": "integer"},
                            "ticks": {"type": "object",
                                "additionalProperties": {"type": "integer"}},
                            "last": {"type": ["object", "null"]},
                            "lateness": {"type": "object", "properties": {
                                "count": {"type": "integer"},
                                "mean_us": {"type": "number"}, "p50_us": {"type": "number"},
                                "p99_us": {"type": "number"}, "max_us": {"type": "number"},
                                "histogram": {"type": "array", "items": {"type": "object",
                                    "properties": {"le_us": {"type": ["number", "null"]},
                                        "count": {"type": "integer"}}}}}}}}}}})
}

fn pipeline_view_schema() -> Value {
    let node = |extra: Value| {
        let mut props = json!({"uuid": {"type": "string"}, "name": {"type": "string"},
            "reported": {"type": "boolean",
                "description": "A status report has come from it (else its counts are 0)."},
            "gone": {"type": "boolean", "description": "It left the mesh."},
            "done": {"type": "integer"}, "duplicates": {"type": "integer"}});
        if let (Value::Object(p), Value::Object(e)) = (&mut props, extra) {
            p.extend(e);
        }
        json!({"type": "object", "required": ["uuid", "name", "reported", "gone", "done"],
               "properties": props})
    };
    json!({"type": "object", "required": ["watcher", "clusters", "reports"],
        "properties": {
            "watcher": {"type": "object", "properties": {
                "uuid": {"type": "string"}, "name": {"type": "string"}}},
            "reports": {"type": "object", "additionalProperties": {"type": "integer"},
                "description": "Status reports taken, malformed, unexpected (from a node not \
                    of that role and cluster), and clusters refused (past 64)."},
            "clusters": {"type": "array", "items": {"type": "object",
                "required": ["cluster", "group", "tasks_per_s", "redealt", "clients",
                             "workers", "collectors", "batches"],
                "properties": {
                    "cluster": {"type": "string"}, "group": {"type": "string"},
                    "tasks_per_s": {"type": "number",
                        "description": "Its workers' throughput together."},
                    "redealt": {"type": "integer",
                        "description": "Tasks dealt again by its clients so far."},
                    "clients": {"type": "array", "items": node(json!({
                        "in_flight": {"type": "integer"}, "redealt": {"type": "integer"}}))},
                    "workers": {"type": "array", "items": node(json!({
                        "held": {"type": "integer"}, "tasks_per_s": {"type": "number"}}))},
                    "collectors": {"type": "array", "items": node(json!({
                        "open_batches": {"type": "integer"},
                        "tasks_per_s": {"type": "number"}}))},
                    "batches": {"type": "array", "items": {"type": "object",
                        "required": ["id", "client", "state", "total", "done", "at_workers",
                                     "at_collector", "in_flight", "pending", "redealt",
                                     "tasks_per_s", "elapsed_s"],
                        "properties": {
                            "id": {"type": "string", "pattern": "^[0-9a-f]{16}$"},
                            "client": {"type": "object", "properties": {
                                "uuid": {"type": "string"}, "name": {"type": "string"}}},
                            "state": {"enum": ["running", "done", "abandoned", "lost"]},
                            "total": {"type": "integer"}, "done": {"type": "integer"},
                            "at_workers": {"type": "integer"},
                            "at_collector": {"type": "integer"},
                            "in_flight": {"type": "integer"}, "pending": {"type": "integer"},
                            "redealt": {"type": "integer"},
                            "tasks_per_s": {"type": "number"},
                            "elapsed_s": {"type": "number"}}}}}}}}})
}
