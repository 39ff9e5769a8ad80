package capture

import "context"

// ServerID is the replication client id this Capture registers under.
func (c *Capture) ServerID() uint32 { return c.cfg.ServerID }

// Replica returns a Capture of the same source and tables that registers
// under serverID: a second replication connection that may stream beside
// this Capture's (a source drops the older of two connections with one
// server_id). It shares c's SQL connection pool, is closed by closing c,
// and reports no metrics (its events are not the speed layer's).
func (c *Capture) Replica(serverID uint32) *Capture {
	cfg := c.cfg
	cfg.ServerID = serverID
	cfg.Metrics = nil
	return &Capture{cfg: cfg, log: c.log.With("replica_server_id", serverID), db: c.db, captured: c.captured}
}

// ServerIDProblems is the server_id part of Prerequisites alone: whether
// the source or one of its replicas already uses c's server_id (for a
// Replica's, which Prerequisites does not check).
func (c *Capture) ServerIDProblems(ctx context.Context) []Problem {
	vars, err := c.variables(ctx, "server_id")
	if err != nil {
		return []Problem{{Check: "server_id", Warn: true, Found: "cannot read the source's server_id (" + err.Error() + ")",
			Fix: "grant the user access to SHOW GLOBAL VARIABLES"}}
	}
	return c.checkServerID(ctx, vars["server_id"])
}
