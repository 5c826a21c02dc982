// Package admin is the HTTP face of a Leviathan node (package node): a
// JSON API over its keys, peers, status and changefeed, a server-sent
// events stream, Prometheus metrics and a live status page. It uses only
// the node's exported API, so an application that wants none of it does
// not carry it.
//
// # Mounting it
//
// New returns the API as an http.Handler to mount on a server of your
// own; Serve runs it on an address with timeouts against slow and idle
// clients, until Close. ConfigFrom takes its settings from the node's
// configuration (the TOML keys http_addr, http_allowed_hosts, http_token
// and http_max_sse):
//
//	srv, err := admin.Serve(n, admin.ConfigFrom(cfg), cfg.HTTPAddr)
//	if err != nil {
//		return err
//	}
//	defer srv.Close()
//
// Closing the node ends open event streams; closing the server ends every
// connection. Neither closes the other.
//
// # Endpoints
//
//	GET    /peers              every other node: id, alias, addr, state, phi,
//	                           last_heard_ms, heartbeat, boot, max_version,
//	                           generation, keys (its live keys as this node
//	                           holds them)
//	GET    /status             this node: id, alias, addr, cluster, generation,
//	                           heartbeat, boot, max_version, keys (live keys:
//	                           each once, deleted ones not), peers, uptime_ns,
//	                           time, phi_threshold, data_dir, stats (counters),
//	                           store (disk use)
//	GET    /kv/{peer}?after=&limit=
//	                           a node's keys with values and versions, in key
//	                           order, after the key after (default: from the
//	                           first), at most limit keys (default 1000, at most
//	                           10000) and node.PageMaxBytes: {"keys": [...],
//	                           "next": "k"}, next set when there is more (pass
//	                           it as after); without after and limit, while
//	                           everything fits, the bare array [...] of the keys
//	GET    /kv/{peer}/{key}    {"value": "...", "value_b64": "...", "version": N} or 404;
//	                           ?raw=1 answers the value's bytes themselves, the
//	                           version in the Leviathan-Version header
//	PUT    /kv/self/{key}      body is the value (any bytes); answers {"version": N}
//	DELETE /kv/self/{key}      answers {"version": N} of the tombstone; 404 for a
//	                           key that does not exist
//	PUT    /kv/{key}           the same as PUT /kv/self/{key}, kept for
//	DELETE /kv/{key}           existing clients
//	GET    /changes?peer=&generation=&since=&limit=
//	                           a peer's changefeed from a cursor, pages of at most
//	                           node.PageMaxBytes (see node.Node.Changes)
//	GET    /events             server-sent events (SSEEvent): peers_discover,
//	                           peers_suspend, peers_recover, peers_dead,
//	                           peers_leave, peers_remove, updates, delete; at
//	                           most http_max_sse streams at once, then 503
//	GET    /metrics            Prometheus metrics (node.WithMetrics)
//	GET    /                   a status page that shows the cluster live
//
// {peer} is an id, an alias, or self (this node). Values travel in JSON
// twice: "value" as a string when they are valid UTF-8 (left out when they
// are not, rather than mangled), "value_b64" always, in standard base64.
// Pages of /kv/{peer} are each read afresh: a key written between two
// of them may be missed or seen; /changes is the exact feed.
//
// Errors are JSON {"error": "..."} with a 4xx status for bad requests; an
// unknown path or query parameter is an error too, in JSON.
//
// # Security
//
// The API speaks plain HTTP: keep it on localhost or behind a TLS proxy.
//
// Against DNS rebinding, a request whose Host is not localhost, 127.0.0.1,
// ::1, the host of addr or http_addr, or listed in http_allowed_hosts is
// answered 421 (any IP is accepted when http_addr binds a wildcard; "*"
// listed turns the check off). When http_token is set, everything under
// /kv, /changes and /events (all that writes or carries values) needs
// "Authorization: Bearer <token>", else 401; /status, /peers, /metrics
// and / stay open. The status page's live log (/events) is off then, as a
// browser's EventSource sends no token.
package admin
