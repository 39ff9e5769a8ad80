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
//  2. read: the latest answer computed for the same request (view, format,
//     query string) is served as it is while the state it was computed from
//     was current no longer than Config.MaxStaleness ago (its freshness and
//     ETag name that state, so it is exact for it); past half that budget a
//     background refresh recomputes it if the state moved. Otherwise a
//     cheap [ViewStore.Meta] call gives the current (generation, speed
//     position), the ETag derives from it, If-None-Match answers 304, and
//     the answer is computed once per state however many requests wait for
//     it; the decoded groups of a snapshot are cached per (view,
//     generation, speed position), so they are read from Redis once per
//     change (see answers.go);
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
// A background refresh of a cached answer may outlive a request (and Run)
// by at most Config.RequestTimeout.
// A Server is safe for concurrent use.
package reporting
