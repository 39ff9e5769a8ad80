package capture

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	sqlmysql "github.com/go-sql-driver/mysql"
)

// Problem is one unmet prerequisite of the source, for `tidemark validate`.
type Problem struct {
	// Check names what was checked ("binlog_format").
	Check string
	// Found is what the source has.
	Found string
	// Fix says how to fix it.
	Fix string
	// Warn marks an advisory problem: capture works, but at a risk.
	Warn bool
	// Transient marks a problem that may be of the moment rather than of
	// the configuration (the source unreachable; a replica registered
	// under the capture's server_id, which just after a crash is the
	// capture's own dead session until the source times it out): a
	// starting service leaves it to its retries instead of refusing.
	Transient bool
}

func (p Problem) String() string {
	kind := "problem"
	if p.Warn {
		kind = "warning"
	}
	return fmt.Sprintf("%s: %s: found %s; fix: %s", kind, p.Check, p.Found, p.Fix)
}

// where a global variable is set, per deployment.
const setGlobally = "SET GLOBAL %[1]s=%[2]s and %[1]s=%[2]s under [mysqld] in my.cnf (on RDS/Aurora: in the DB parameter group)"

// Prerequisites checks that the source can be captured: binary logging in
// ROW format with FULL row images and FULL row metadata, the replication
// account's privileges (by doing what capture does: listing binlogs,
// registering as a replica, selecting from the captured tables), a unique
// server_id, and binlog retention. It returns nil when everything is in
// place. A source that cannot be reached is one problem.
func (c *Capture) Prerequisites(ctx context.Context) []Problem {
	var probs []Problem
	add := func(check, found, fix string) { probs = append(probs, Problem{Check: check, Found: found, Fix: fix}) }

	var version string
	if err := c.db.QueryRowContext(ctx, "SELECT VERSION()").Scan(&version); err != nil {
		add("connection", fmt.Sprintf("cannot query %s as %q: %v", c.addr(), c.cfg.User, err),
			"check host, port, user and password, and that the user may connect from this host")
		var me *sqlmysql.MySQLError
		probs[0].Transient = !errors.As(err, &me) // refused by the server (access denied) is not of the moment
		return probs
	}
	isMariaDB := strings.Contains(strings.ToLower(version), "mariadb")
	switch {
	case isMariaDB && c.cfg.Flavor != FlavorMariaDB:
		add("flavor", "the source is MariaDB "+version+" but flavor is "+c.cfg.Flavor, "set flavor: mariadb")
	case !isMariaDB && c.cfg.Flavor != FlavorMySQL:
		add("flavor", "the source is MySQL "+version+" but flavor is "+c.cfg.Flavor, "set flavor: mysql")
	}

	vars, err := c.variables(ctx, "log_bin", "binlog_format", "binlog_row_image", "binlog_row_metadata",
		"binlog_row_value_options", "server_id", "binlog_expire_logs_seconds", "expire_logs_days")
	if err != nil {
		add("variables", err.Error(), "grant the user access to SHOW GLOBAL VARIABLES")
		return probs
	}
	if v := vars["log_bin"]; !strings.EqualFold(v, "ON") && v != "1" {
		add("log_bin", orNone(v), "start the server with binary logging: log_bin=mysql-bin (MariaDB: log-bin) under [mysqld] in my.cnf "+
			"and restart (on RDS: enable automated backups)")
	}
	want := func(name, value string) {
		v, ok := vars[name]
		switch {
		case !ok:
			add(name, "the variable does not exist on "+version,
				"upgrade the source: Tidemark needs MariaDB ≥ 10.5 or MySQL ≥ 8.0.1 (full row metadata in the binlog)")
		case !strings.EqualFold(v, value):
			add(name, orNone(v), fmt.Sprintf(setGlobally, name, value)+
				"; sessions opened before keep the old value until they reconnect")
		}
	}
	want("binlog_format", "ROW")
	want("binlog_row_image", "FULL")
	want("binlog_row_metadata", "FULL")
	if v := vars["binlog_row_value_options"]; v != "" {
		add("binlog_row_value_options", v, fmt.Sprintf(setGlobally, "binlog_row_value_options", "''")+
			" (PARTIAL_JSON logs JSON diffs, not values)")
	}

	if r := retention(vars); r > 0 && r < 24*time.Hour {
		probs = append(probs, Problem{Check: "binlog retention", Warn: true,
			Found: fmt.Sprintf("binlogs are purged after %s: a capture stopped longer than that must re-bootstrap", r),
			Fix: fmt.Sprintf(setGlobally, "binlog_expire_logs_seconds", "604800") +
				" (7 days; MariaDB < 10.6: expire_logs_days=7; RDS: CALL mysql.rds_set_configuration('binlog retention hours', 168))"})
	}

	probs = append(probs, c.checkServerID(ctx, vars["server_id"])...)

	if _, err := c.BinaryLogs(ctx); err != nil {
		priv := "REPLICATION CLIENT"
		if isMariaDB {
			priv = "BINLOG MONITOR (MariaDB ≥ 10.5; REPLICATION CLIENT before)"
		}
		add("privilege "+priv, err.Error(), fmt.Sprintf("GRANT %s ON *.* TO %s", strings.Split(priv, " (")[0], c.account()))
	}
	if err := c.tryReplication(ctx); err != nil {
		var me *gomysql.MyError
		fix := fmt.Sprintf("GRANT REPLICATION SLAVE ON *.* TO %s", c.account())
		denied := errors.As(err, &me) && (me.Code == gomysql.ER_SPECIFIC_ACCESS_DENIED_ERROR || me.Code == gomysql.ER_ACCESS_DENIED_ERROR)
		if errors.As(err, &me) && !denied {
			fix = "make sure the source accepts replica connections from this host"
		}
		probs = append(probs, Problem{Check: "privilege REPLICATION SLAVE", Found: err.Error(), Fix: fix, Transient: !denied})
	}
	probs = append(probs, c.checkSelect(ctx)...)
	return probs
}

func orNone(v string) string {
	if v == "" {
		return "(unset)"
	}
	return v
}

func (c *Capture) account() string {
	return "'" + strings.ReplaceAll(c.cfg.User, "'", "''") + "'@'%'"
}

// checkServerID makes sure no server in the topology already uses our id:
// a second replica with the same id makes the source drop the first one.
func (c *Capture) checkServerID(ctx context.Context, sourceID string) []Problem {
	id := strconv.FormatUint(uint64(c.cfg.ServerID), 10)
	fix := "pick another server_id for the source in the Tidemark config, unique among the source's server and its replicas"
	if sourceID == id {
		return []Problem{{Check: "server_id", Found: "the source itself has server_id " + id, Fix: fix}}
	}
	stmt := "SHOW SLAVE HOSTS"
	if c.cfg.Flavor == FlavorMySQL {
		stmt = "SHOW REPLICAS"
	}
	rows, err := c.db.QueryContext(ctx, stmt)
	if err != nil && c.cfg.Flavor == FlavorMySQL {
		rows, err = c.db.QueryContext(ctx, "SHOW SLAVE HOSTS")
	}
	if err != nil {
		return []Problem{{Check: "server_id", Warn: true,
			Found: "cannot list the source's replicas (" + err.Error() + ")",
			Fix:   "make sure server_id " + id + " is not used by a replica of the source, or GRANT REPLICATION MASTER ADMIN (MariaDB) / REPLICATION SLAVE (MySQL) so this can be checked"}}
	}
	recs, err := scanAll(rows)
	if err != nil {
		return []Problem{{Check: "server_id", Warn: true, Found: "cannot list the source's replicas (" + err.Error() + ")", Fix: fix}}
	}
	for _, r := range recs {
		if r["Server_id"] == id {
			return []Problem{{Check: "server_id",
				Found: fmt.Sprintf("a replica is connected with server_id %s from %s:%s (if it is this Tidemark's own running capture, ignore this)",
					id, r["Host"], r["Port"]),
				Fix: fix, Transient: true}}
		}
	}
	return nil
}

// tryReplication registers as a replica and reads the first event of the
// oldest binlog (an empty file name asks for it, so the check needs no
// other privilege): exactly what Stream needs of the account. It registers
// under ServerID with its top bit flipped, because a second connection with
// the capture's own id would make the source drop a running capture.
func (c *Capture) tryReplication(ctx context.Context) error {
	cfg := c.syncerConfig()
	cfg.ServerID ^= 1 << 31
	cfg.HeartbeatPeriod = 0
	s := replication.NewBinlogSyncer(cfg)
	defer s.Close()
	st, err := s.StartSync(gomysql.Position{Name: "", Pos: 4})
	if err != nil {
		return fmt.Errorf("registering as a replica: %w", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := st.GetEvent(wctx); err != nil {
		return fmt.Errorf("reading the binlog as a replica: %w", err)
	}
	return nil
}

// checkSelect resolves the captured tables and selects from each.
func (c *Capture) checkSelect(ctx context.Context) []Problem {
	tables, err := c.ResolveTables(ctx)
	if err != nil {
		return []Problem{{Check: "captured tables", Found: err.Error(),
			Fix: "create the table or fix the tables list; the user needs SELECT on it to see it"}}
	}
	if len(tables) == 0 {
		return []Problem{{Check: "captured tables", Warn: true,
			Found: "no base tables in " + strings.Join(c.cfg.Databases, ", "),
			Fix:   fmt.Sprintf("check the databases list and GRANT SELECT ON <db>.* TO %s", c.account())}}
	}
	var probs []Problem
	for _, t := range tables {
		q := "SELECT 1 FROM `" + strings.ReplaceAll(t.DB, "`", "``") + "`.`" + strings.ReplaceAll(t.Table, "`", "``") + "` LIMIT 0"
		rows, err := c.db.QueryContext(ctx, q)
		if err != nil {
			probs = append(probs, Problem{Check: "privilege SELECT on " + t.String(), Found: err.Error(),
				Fix: fmt.Sprintf("GRANT SELECT ON `%s`.* TO %s", t.DB, c.account())})
			continue
		}
		rows.Close()
	}
	return probs
}
