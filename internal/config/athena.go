package config

import (
	"net/url"
	"regexp"
	"strings"
	"time"
)

// Athena is how the lake is declared to Athena: the database of
// `tidemark athena ddl` and, when Glue.Sync is set, the Glue catalog the
// batch role keeps in step with each published generation.
type Athena struct {
	// Database is the Glue/Athena database of the lake's tables; default
	// "tidemark".
	Database string `yaml:"database"`
	Glue     Glue   `yaml:"glue"`
}

// Glue configures the Glue Data Catalog sync.
type Glue struct {
	// Sync turns the sync on: after each generation it publishes, the
	// batch role creates or updates one Glue table per lake table and view
	// to point at it. It needs an s3:// lake root.
	Sync bool `yaml:"sync"`
	// Region of the catalog; "" means lake.s3.region, then the AWS chain's.
	Region string `yaml:"region"`
	// Endpoint overrides AWS's Glue endpoint (a VPC endpoint, or a
	// stand-in in tests); "" means AWS's for Region.
	Endpoint string `yaml:"endpoint"`
	// CatalogID is the AWS account id owning the catalog; "" means the
	// caller's.
	CatalogID string `yaml:"catalog_id"`
	// AccessKeyID and SecretAccessKey, set together, are the credentials;
	// both empty means lake.s3's keys when those are set, else the AWS
	// default chain (environment, shared files, instance or task role).
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey Secret `yaml:"secret_access_key"`
	// Timeout bounds one sync, retries included; default 1m. A sync that
	// times out fails like any other: logged, counted, retried at the next
	// generation.
	Timeout time.Duration `yaml:"timeout"`
}

// defaultAthena is Athena's part of Default.
func defaultAthena() Athena {
	return Athena{Database: "tidemark", Glue: Glue{Timeout: time.Minute}}
}

// Glue database names are lower case letters, digits and underscores, at
// most 255 characters (Athena refuses others).
var glueNameRE = regexp.MustCompile(`^[a-z0-9_]{1,255}$`)

var catalogIDRE = regexp.MustCompile(`^[0-9]{12}$`)

// validate checks the athena section; add reports a problem at a dotted
// path.
func (a *Athena) validate(lake *Lake, add func(path, format string, args ...any)) {
	if !glueNameRE.MatchString(a.Database) {
		add("athena.database", "%q: want lower case letters, digits and underscores (Athena's rule for database names), e.g. tidemark", a.Database)
	}
	g := &a.Glue
	if g.Sync && !strings.HasPrefix(lake.Root, "s3://") {
		add("athena.glue.sync", "Glue tables point Athena at S3, but lake.root is %q: use an s3://bucket/prefix lake or turn the sync off", lake.Root)
	}
	if g.Endpoint != "" {
		if u, err := url.Parse(g.Endpoint); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("athena.glue.endpoint", "%q: want a URL like https://glue.eu-west-1.amazonaws.com", g.Endpoint)
		}
	}
	if g.CatalogID != "" && !catalogIDRE.MatchString(g.CatalogID) {
		add("athena.glue.catalog_id", "%q: want a 12-digit AWS account id, or leave it empty for the caller's", g.CatalogID)
	}
	if (g.AccessKeyID == "") != (g.SecretAccessKey == "") {
		add("athena.glue", "set access_key_id and secret_access_key together, or neither (lake.s3's keys or the AWS chain are used then)")
	}
	if g.Timeout <= 0 {
		add("athena.glue.timeout", "%s: must be positive (default 1m)", g.Timeout)
	}
}

// GlueCredentials returns the access key pair the Glue client uses:
// athena.glue's, else lake.s3's, else both empty (the AWS default chain).
func (c *Config) GlueCredentials() (accessKeyID, secretAccessKey string) {
	if g := c.Athena.Glue; g.AccessKeyID != "" {
		return g.AccessKeyID, string(g.SecretAccessKey)
	}
	return c.Lake.S3.AccessKeyID, string(c.Lake.S3.SecretAccessKey)
}

// GlueRegion returns athena.glue.region, else lake.s3.region ("" leaves
// the choice to the AWS chain).
func (c *Config) GlueRegion() string {
	if c.Athena.Glue.Region != "" {
		return c.Athena.Glue.Region
	}
	return c.Lake.S3.Region
}
