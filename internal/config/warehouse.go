package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/tidemark/tidemark/formats"
)

// Warehouse is one warehouse target: a PostgreSQL database or a Redshift
// cluster or workgroup that every published generation is loaded into
// (docs/warehouse.md).
type Warehouse struct {
	// Name identifies the target in status, metrics and --target; unique.
	Name string `yaml:"name"`
	// Kind is postgres or redshift.
	Kind string `yaml:"kind"`
	// DSN is a PostgreSQL connection string (postgres://user:pass@host:5432/db
	// or key=value form); for redshift the cluster's PostgreSQL wire
	// endpoint. Set it or the separate fields below (postgres), or data_api
	// (redshift).
	DSN      Secret `yaml:"dsn"`
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"` // default 5432
	User     string `yaml:"user"`
	Password Secret `yaml:"password"` // or TIDEMARK_WAREHOUSE_<i>_PASSWORD
	Database string `yaml:"database"`
	// SSLMode is libpq's sslmode for the separate fields; "" means prefer.
	SSLMode string `yaml:"sslmode"`
	// Schema holds the stable names readers query and the control table
	// tidemark_generations; per-generation tables live in <schema>_gen.
	// Default "tidemark".
	Schema string `yaml:"schema"`
	// Tables (db.table), Views (view names) and History (db.table of
	// batch.history tables) select what is loaded. Absent means all of that
	// kind; an empty list none.
	Tables  []string `yaml:"tables"`
	Views   []string `yaml:"views"`
	History []string `yaml:"history"`
	// DataAPI reaches Redshift through the Redshift Data API (redshift only).
	DataAPI RedshiftDataAPI `yaml:"data_api"`
	// IAMRole is the role ARN Redshift's COPY assumes to read the lake
	// (redshift only; required).
	IAMRole string `yaml:"iam_role"`
	// TableKeys sets Redshift sort and distribution keys per table
	// (redshift only).
	TableKeys []RedshiftTableKeys `yaml:"table_keys"`
}

// RedshiftDataAPI addresses a Redshift cluster or Serverless workgroup
// through the Data API (aws-sdk-go-v2 service/redshiftdata).
type RedshiftDataAPI struct {
	// WorkgroupName (Serverless) or ClusterIdentifier (provisioned): one.
	WorkgroupName     string `yaml:"workgroup_name"`
	ClusterIdentifier string `yaml:"cluster_identifier"`
	Database          string `yaml:"database"`
	// DBUser (provisioned: temporary credentials for that user) or
	// SecretARN (a Secrets Manager secret); Serverless takes SecretARN or
	// neither (the caller's IAM identity).
	DBUser    string `yaml:"db_user"`
	SecretARN string `yaml:"secret_arn"`
	// Region of the cluster; "" means lake.s3.region, then the AWS chain's.
	Region string `yaml:"region"`
	// Endpoint overrides the Data API endpoint (a VPC endpoint, or a
	// stand-in in tests).
	Endpoint string `yaml:"endpoint"`
	// AccessKeyID and SecretAccessKey, set together, are the credentials;
	// both empty means lake.s3's when set, else the AWS default chain.
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey Secret `yaml:"secret_access_key"`
}

// IsSet reports whether any Data API field is set.
func (d *RedshiftDataAPI) IsSet() bool { return *d != (RedshiftDataAPI{}) }

// RedshiftTableKeys are one table's Redshift sort and distribution keys.
type RedshiftTableKeys struct {
	Table    string   `yaml:"table"` // db.table
	SortKeys []string `yaml:"sort_keys"`
	DistKey  string   `yaml:"dist_key"`
}

// DefaultWarehouseSchema is a target's schema when none is set.
const DefaultWarehouseSchema = "tidemark"

// SchemaName returns Schema, or the default.
func (w *Warehouse) SchemaName() string {
	if w.Schema == "" {
		return DefaultWarehouseSchema
	}
	return w.Schema
}

// PostgresDSN returns the connection string: DSN, or one built from the
// separate fields.
func (w *Warehouse) PostgresDSN() string {
	if w.DSN != "" {
		return string(w.DSN)
	}
	u := url.URL{Scheme: "postgres", Host: w.Host, Path: "/" + w.Database}
	port := w.Port
	if port == 0 {
		port = 5432
	}
	u.Host = fmt.Sprintf("%s:%d", w.Host, port)
	if w.Password != "" {
		u.User = url.UserPassword(w.User, string(w.Password))
	} else if w.User != "" {
		u.User = url.User(w.User)
	}
	if w.SSLMode != "" {
		u.RawQuery = url.Values{"sslmode": {w.SSLMode}}.Encode()
	}
	return u.String()
}

// WarehouseTarget returns the target named name, or nil.
func (c *Config) WarehouseTarget(name string) *Warehouse {
	for i := range c.Warehouse {
		if c.Warehouse[i].Name == name {
			return &c.Warehouse[i]
		}
	}
	return nil
}

// PostgreSQL and Redshift unquoted identifiers; the schema is used
// unquoted in docs and by readers, so keep it plain (and short enough for
// the _gen suffix).
var warehouseSchemaRE = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,58}$`)

var iamRoleRE = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$`)

var sslModes = []string{"", "disable", "allow", "prefer", "require", "verify-ca", "verify-full"}

// validateWarehouse checks the warehouse section.
func (c *Config) validateWarehouse(add func(path, format string, args ...any)) {
	seen := map[string]bool{}
	viewNames := map[string]bool{}
	for _, v := range c.Views {
		viewNames[v.Name] = true
	}
	for i := range c.Warehouse {
		w := &c.Warehouse[i]
		p := fmt.Sprintf("warehouse[%d]", i)
		if !nameRE.MatchString(w.Name) {
			add(p+".name", "%q: want a lowercase name like \"reporting\" ([a-z][a-z0-9_]*)", w.Name)
		} else if seen[w.Name] {
			add(p+".name", "%q is used by two targets; names must be unique", w.Name)
		}
		seen[w.Name] = true
		if w.Schema != "" && !warehouseSchemaRE.MatchString(w.Schema) {
			add(p+".schema", "%q: want a lower case SQL name of letters, digits and underscores, at most 59 characters (default tidemark)", w.Schema)
		}
		for j, t := range w.Tables {
			if _, err := formats.ParseTableID(t); err != nil {
				add(fmt.Sprintf("%s.tables[%d]", p, j), "%q: want db.table", t)
			}
		}
		for j, t := range w.History {
			if _, err := formats.ParseTableID(t); err != nil {
				add(fmt.Sprintf("%s.history[%d]", p, j), "%q: want db.table", t)
			} else if !slices.Contains(c.Batch.History, t) {
				add(fmt.Sprintf("%s.history[%d]", p, j), "%q has no history table: add it to batch.history first", t)
			}
		}
		for j, v := range w.Views {
			if !viewNames[v] {
				add(fmt.Sprintf("%s.views[%d]", p, j), "%q: no such view in views", v)
			}
		}
		switch w.Kind {
		case "postgres":
			w.validatePostgres(p, add)
		case "redshift":
			w.validateRedshift(p, &c.Lake, add)
		case "":
			add(p+".kind", "required: postgres or redshift")
		default:
			add(p+".kind", "%q: want postgres or redshift", w.Kind)
		}
	}
}

func (w *Warehouse) validatePostgres(p string, add func(path, format string, args ...any)) {
	if w.DataAPI.IsSet() || w.IAMRole != "" || len(w.TableKeys) > 0 {
		add(p, "data_api, iam_role and table_keys are Redshift settings: remove them or set kind: redshift")
	}
	w.validateConn(p, true, add)
}

func (w *Warehouse) validateConn(p string, required bool, add func(path, format string, args ...any)) {
	fields := w.Host != "" || w.Port != 0 || w.User != "" || w.Password != "" || w.Database != "" || w.SSLMode != ""
	switch {
	case w.DSN != "" && fields:
		add(p+".dsn", "set dsn or host/port/user/password/database, not both")
	case w.DSN != "":
		s := string(w.DSN)
		if !strings.HasPrefix(s, "postgres://") && !strings.HasPrefix(s, "postgresql://") && !strings.Contains(s, "=") {
			add(p+".dsn", "want postgres://user:password@host:5432/database or key=value pairs (host=... dbname=...)")
		}
	case fields:
		if w.Host == "" {
			add(p+".host", "required with the separate connection fields, e.g. 127.0.0.1")
		}
		if w.Port < 0 || w.Port > 65535 {
			add(p+".port", "%d: want a TCP port 1..65535 (PostgreSQL's default is 5432)", w.Port)
		}
		if w.User == "" {
			add(p+".user", "required: a user that may create the schema (or own it) and its tables")
		}
		if w.Database == "" {
			add(p+".database", "required: the database to load into")
		}
		if !slices.Contains(sslModes, w.SSLMode) {
			add(p+".sslmode", "%q: want disable, allow, prefer, require, verify-ca or verify-full", w.SSLMode)
		}
	case required:
		add(p, "set dsn: postgres://user:password@host:5432/database, or host, port, user, password and database")
	}
}

func (w *Warehouse) validateRedshift(p string, lake *Lake, add func(path, format string, args ...any)) {
	d := &w.DataAPI
	switch {
	case d.IsSet() && (w.DSN != "" || w.Host != ""):
		add(p, "set data_api or a dsn (host/port/...), not both")
	case d.IsSet():
		dp := p + ".data_api"
		switch {
		case d.WorkgroupName != "" && d.ClusterIdentifier != "":
			add(dp, "set workgroup_name (Serverless) or cluster_identifier (provisioned), not both")
		case d.WorkgroupName == "" && d.ClusterIdentifier == "":
			add(dp, "set workgroup_name (Redshift Serverless) or cluster_identifier (a provisioned cluster)")
		}
		if d.Database == "" {
			add(dp+".database", "required: the database to load into, e.g. dev")
		}
		switch {
		case d.DBUser != "" && d.SecretARN != "":
			add(dp, "set db_user or secret_arn, not both")
		case d.WorkgroupName != "" && d.DBUser != "":
			add(dp+".db_user", "Redshift Serverless takes no db_user: use secret_arn, or neither for the caller's IAM identity")
		case d.ClusterIdentifier != "" && d.DBUser == "" && d.SecretARN == "":
			add(dp, "a provisioned cluster needs db_user (temporary credentials) or secret_arn")
		}
		if d.SecretARN != "" && !strings.HasPrefix(d.SecretARN, "arn:") {
			add(dp+".secret_arn", "%q: want a Secrets Manager ARN (arn:aws:secretsmanager:...)", d.SecretARN)
		}
		if d.Endpoint != "" {
			if u, err := url.Parse(d.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				add(dp+".endpoint", "%q: want a URL like https://redshift-data.eu-west-1.amazonaws.com", d.Endpoint)
			}
		}
		if (d.AccessKeyID == "") != (d.SecretAccessKey == "") {
			add(dp, "set access_key_id and secret_access_key together, or neither (lake.s3's keys or the AWS chain are used then)")
		}
	default:
		w.validateConn(p, false, add)
		if w.DSN == "" && w.Host == "" {
			add(p, "set data_api: {workgroup_name or cluster_identifier, database, ...} or dsn: postgres://user:password@cluster:5439/dev")
		}
	}
	switch {
	case w.IAMRole == "":
		add(p+".iam_role", "required: the ARN of a role Redshift may assume to read the lake (arn:aws:iam::123456789012:role/tidemark-copy), see docs/warehouse.md")
	case !iamRoleRE.MatchString(w.IAMRole):
		add(p+".iam_role", "%q: want an IAM role ARN like arn:aws:iam::123456789012:role/tidemark-copy", w.IAMRole)
	}
	if !strings.HasPrefix(lake.Root, "s3://") {
		add(p, "Redshift's COPY reads the lake from S3, but lake.root is %q: use an s3://bucket/prefix lake", lake.Root)
	}
	for j, k := range w.TableKeys {
		kp := fmt.Sprintf("%s.table_keys[%d]", p, j)
		if _, err := formats.ParseTableID(k.Table); err != nil {
			add(kp+".table", "%q: want db.table", k.Table)
		}
		if len(k.SortKeys) == 0 && k.DistKey == "" {
			add(kp, "set sort_keys, dist_key or both")
		}
	}
}
