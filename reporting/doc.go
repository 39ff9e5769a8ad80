// Package reporting is Tidemark's HTTP reporting API and dashboard.
//
// # Model
//
// A view's answer is batch(g) ⊕ speed: the Redis store merges both and hands
// reporting the merged mergeable aggregate states ([formats.Agg]) of every
// group, stamped with the freshness they reflect (generation, cut, speed
// position), read in one atomic step ([ViewStore.ReadAgg]). Reporting never
// adds anything to the store and never imports realtime: it declares the
// three store methods it needs ([ViewStore]) and the binary wires an adapter.
//
// A request is answered in four steps:
//
//  1. parse: every query parameter is validated against the view's schema
//     (known column, value parses as the column's type, range bounds ordered)
//     before anything reaches the store; a bad one is a 400 naming it;
//  2. read: a cheap [ViewStore.Meta] call gives the current (generation,
//     speed position); the ETag derives from it, so If-None-Match answers 304
//     without reading any group, and the decoded groups of a snapshot are
//     cached per (view, generation, speed position), so a burst of requests
//     reads the groups from Redis once per change, never a stale answer;
//  3. compute: filter on group keys, join mirrored dimension rows (always
//     the current row), re-aggregate to the group_by subset by merging Agg
//     states — an average is recomputed from its merged sum and count, never
//     averaged twice — then order, offset and limit;
//  4. encode: JSON (the contract), CSV, Arrow IPC stream or a Google
//     Visualization DataTable, chosen by format= or Accept.
//
// # Lifecycle
//
// [New] builds a [Server] from a [Config], the bound views, a store, a
// Prometheus registerer and a readiness func. [Server.Run] serves until its
// context ends, then drains in-flight requests within Config.ShutdownTimeout.
// [Server.Handler] is the same routes without a listener (tests, embedding).
// A Server is safe for concurrent use.
package reporting
