package athena

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/batch"
)

// Catalog is the part of the Glue API the sync uses; *glue.Client
// implements it.
type Catalog interface {
	GetDatabase(ctx context.Context, in *glue.GetDatabaseInput, optFns ...func(*glue.Options)) (*glue.GetDatabaseOutput, error)
	CreateDatabase(ctx context.Context, in *glue.CreateDatabaseInput, optFns ...func(*glue.Options)) (*glue.CreateDatabaseOutput, error)
	GetTable(ctx context.Context, in *glue.GetTableInput, optFns ...func(*glue.Options)) (*glue.GetTableOutput, error)
	CreateTable(ctx context.Context, in *glue.CreateTableInput, optFns ...func(*glue.Options)) (*glue.CreateTableOutput, error)
	UpdateTable(ctx context.Context, in *glue.UpdateTableInput, optFns ...func(*glue.Options)) (*glue.UpdateTableOutput, error)
}

var _ Catalog = (*glue.Client)(nil)

// The Hive classes Athena reads Parquet with: what CREATE EXTERNAL TABLE
// ... STORED AS PARQUET records in the catalog.
const (
	parquetInputFormat  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
	parquetOutputFormat = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
	parquetSerDe        = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
)

// ClientOptions configure the Glue client NewClient builds.
type ClientOptions struct {
	// Region of the catalog; "" means the AWS chain's (AWS_REGION, the
	// shared config), then us-east-1.
	Region string
	// Endpoint overrides the AWS endpoint (a VPC endpoint, or a stand-in in
	// tests); "" means AWS's for Region.
	Endpoint string
	// AccessKeyID and SecretAccessKey, set together, are static
	// credentials; both empty means the AWS default chain (environment,
	// shared files, instance or task role).
	AccessKeyID, SecretAccessKey string
	// MaxAttempts bounds the SDK's retries of one request (throttling,
	// 5xx); 0 means 5.
	MaxAttempts int
}

// NewClient builds a Glue client. It does not contact the service: wrong
// credentials or endpoint show at the first request.
func NewClient(ctx context.Context, o ClientOptions) (*glue.Client, error) {
	if (o.AccessKeyID == "") != (o.SecretAccessKey == "") {
		return nil, errors.New("building the Glue client: access key id and secret access key must be set together")
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	loads := []func(*awsconfig.LoadOptions) error{
		awsconfig.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(so *retry.StandardOptions) { so.MaxAttempts = o.MaxAttempts })
		}),
	}
	if o.Region != "" {
		loads = append(loads, awsconfig.WithRegion(o.Region))
	}
	if o.AccessKeyID != "" {
		loads = append(loads, awsconfig.WithCredentialsProvider(
			credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, "")))
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("building the Glue client: loading AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	return glue.NewFromConfig(cfg, func(g *glue.Options) {
		if o.Endpoint != "" {
			g.BaseEndpoint = aws.String(o.Endpoint)
		}
	}), nil
}

// SyncMetrics count the Glue syncs. The zero value (nil fields) counts
// nothing.
type SyncMetrics struct {
	Syncs      prometheus.Counter
	Failures   prometheus.Counter
	Generation prometheus.Gauge
}

// NewSyncMetrics registers tidemark_glue_syncs_total,
// tidemark_glue_sync_failures_total and tidemark_glue_generation with reg.
func NewSyncMetrics(reg prometheus.Registerer) *SyncMetrics {
	m := &SyncMetrics{
		Syncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_glue_syncs_total", Help: "Glue catalog syncs this process attempted (one per generation it published).",
		}),
		Failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_glue_sync_failures_total", Help: "Glue catalog syncs that failed; the generation stays published and the next sync catches up.",
		}),
		Generation: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_glue_generation", Help: "The newest generation the Glue catalog was brought to by this process.",
		}),
	}
	reg.MustRegister(m.Syncs, m.Failures, m.Generation)
	return m
}

// SyncOptions configure a Sync.
type SyncOptions struct {
	Options
	// CatalogID is the AWS account id owning the catalog; "" means the
	// caller's.
	CatalogID string
	// Metrics, when set, counts syncs and failures.
	Metrics *SyncMetrics
}

// Sync keeps a Glue database in step with the lake's generations: one
// table per table snapshot and per view result of a generation, declared
// as CreateDDL declares it. It is safe for concurrent use if the Catalog
// is (*glue.Client is).
type Sync struct {
	cat Catalog
	o   SyncOptions

	mu     sync.Mutex
	newest uint64 // the newest generation a sync succeeded for
}

// NewSync returns a Sync over cat. It checks o (the lake root must be
// s3://) but does not contact Glue.
func NewSync(cat Catalog, o SyncOptions) (*Sync, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	return &Sync{cat: cat, o: o}, nil
}

// Action is what a sync did to one table.
type Action string

// The actions of Change.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged" // already at this generation, same definition
	Newer     Action = "newer"     // left at the newer generation it points at
)

// Change is what a sync did to one Glue table.
type Change struct {
	Table  string // the Glue table name
	Action Action
	// Generation is the one the table points at after the sync.
	Generation uint64
}

// maxConflicts bounds the re-reads of a table another writer updated
// between our GetTable and UpdateTable.
const maxConflicts = 3

// Sync creates the database if missing and creates or updates, per table
// and view of gen, its Glue table so that it points at gen's folders. It
// never moves a table back: a table whose GenerationParameter is newer
// than gen is left alone (Newer). It is idempotent: a table already at gen
// with the same definition is not written (Unchanged). Updates carry the
// table's VersionId, so two writers racing cannot leave the older
// generation last. On error the tables changed before it stay changed: each
// table moves atomically, and a rerun finishes the job.
func (s *Sync) Sync(ctx context.Context, gen *batch.Generation) ([]Change, error) {
	changes, err := s.sync(ctx, gen)
	if m := s.o.Metrics; m != nil {
		if m.Syncs != nil {
			m.Syncs.Inc()
		}
		if err != nil && m.Failures != nil {
			m.Failures.Inc()
		}
		if err == nil && m.Generation != nil {
			// A late sync of an older generation leaves the gauge alone,
			// as it leaves the tables.
			s.mu.Lock()
			s.newest = max(s.newest, gen.Generation)
			m.Generation.Set(float64(s.newest))
			s.mu.Unlock()
		}
	}
	if err != nil {
		return changes, fmt.Errorf("syncing Glue database %s to generation %d: %w", s.o.Database, gen.Generation, err)
	}
	return changes, nil
}

func (s *Sync) sync(ctx context.Context, gen *batch.Generation) ([]Change, error) {
	tables, err := describe(gen, s.o.Options)
	if err != nil {
		return nil, err
	}
	if err := s.ensureDatabase(ctx); err != nil {
		return nil, err
	}
	var changes []Change
	for _, t := range tables {
		c, err := s.syncTable(ctx, t)
		if err != nil {
			return changes, fmt.Errorf("table %s: %w", t.name, err)
		}
		changes = append(changes, c)
	}
	return changes, nil
}

// Check asks Glue for the database: it proves the endpoint, the
// credentials and the read permission. A missing database is fine (the
// first sync creates it).
func (s *Sync) Check(ctx context.Context) error {
	_, err := s.cat.GetDatabase(ctx, &glue.GetDatabaseInput{CatalogId: s.catalogID(), Name: aws.String(s.o.Database)})
	var nf *types.EntityNotFoundException
	if err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("reading Glue database %s: %w", s.o.Database, err)
	}
	return nil
}

func (s *Sync) catalogID() *string {
	if s.o.CatalogID == "" {
		return nil
	}
	return aws.String(s.o.CatalogID)
}

func (s *Sync) ensureDatabase(ctx context.Context) error {
	_, err := s.cat.GetDatabase(ctx, &glue.GetDatabaseInput{CatalogId: s.catalogID(), Name: aws.String(s.o.Database)})
	var nf *types.EntityNotFoundException
	switch {
	case err == nil:
		return nil
	case !errors.As(err, &nf):
		return fmt.Errorf("reading database: %w", err)
	}
	_, err = s.cat.CreateDatabase(ctx, &glue.CreateDatabaseInput{
		CatalogId: s.catalogID(),
		DatabaseInput: &types.DatabaseInput{
			Name:        aws.String(s.o.Database),
			Description: aws.String("Tidemark lake " + s.o.Root + " (tables are kept at the newest published generation)"),
		},
	})
	var exists *types.AlreadyExistsException
	if err != nil && !errors.As(err, &exists) {
		return fmt.Errorf("creating database: %w", err)
	}
	return nil
}

func (s *Sync) syncTable(ctx context.Context, t *table) (Change, error) {
	want := t.glueInput()
	for range maxConflicts {
		out, err := s.cat.GetTable(ctx, &glue.GetTableInput{CatalogId: s.catalogID(), DatabaseName: aws.String(s.o.Database), Name: want.Name})
		var nf *types.EntityNotFoundException
		if errors.As(err, &nf) {
			_, err = s.cat.CreateTable(ctx, &glue.CreateTableInput{CatalogId: s.catalogID(), DatabaseName: aws.String(s.o.Database), TableInput: want})
			var exists *types.AlreadyExistsException
			if errors.As(err, &exists) {
				continue // another writer created it first: compare with theirs
			}
			if err != nil {
				return Change{}, fmt.Errorf("creating: %w", err)
			}
			return Change{Table: t.name, Action: Created, Generation: t.gen}, nil
		}
		if err != nil {
			return Change{}, fmt.Errorf("reading: %w", err)
		}
		have := out.Table
		if g, ok := tableGeneration(have); ok && g > t.gen {
			return Change{Table: t.name, Action: Newer, Generation: g}, nil
		} else if ok && g == t.gen && sameDefinition(have, want) {
			return Change{Table: t.name, Action: Unchanged, Generation: g}, nil
		}
		_, err = s.cat.UpdateTable(ctx, &glue.UpdateTableInput{
			CatalogId: s.catalogID(), DatabaseName: aws.String(s.o.Database), TableInput: want,
			VersionId: have.VersionId,
			// Glue would otherwise archive a table version per generation,
			// and its account quota on versions is finite.
			SkipArchive: aws.Bool(true),
		})
		var conflict *types.ConcurrentModificationException
		if errors.As(err, &conflict) {
			continue
		}
		if err != nil {
			return Change{}, fmt.Errorf("updating: %w", err)
		}
		return Change{Table: t.name, Action: Updated, Generation: t.gen}, nil
	}
	return Change{}, fmt.Errorf("another writer changed the table %d times in a row; giving up", maxConflicts)
}

// glueInput is the table as CreateDDL declares it: external, Parquet,
// LOCATION in the generation, the same columns, partition keys and
// properties.
func (t *table) glueInput() *types.TableInput {
	cols := make([]types.Column, len(t.columns))
	for i, c := range t.columns {
		cols[i] = types.Column{Name: aws.String(c.name), Type: aws.String(c.typ)}
	}
	var keys []types.Column
	for _, p := range t.parts {
		keys = append(keys, types.Column{Name: aws.String(p.name), Type: aws.String("string")})
	}
	params := map[string]string{"EXTERNAL": "TRUE"}
	for _, p := range t.parameters() {
		params[p[0]] = p[1]
	}
	return &types.TableInput{
		Name:          aws.String(t.name),
		TableType:     aws.String("EXTERNAL_TABLE"),
		Parameters:    params,
		PartitionKeys: keys,
		StorageDescriptor: &types.StorageDescriptor{
			Columns:      cols,
			Location:     aws.String(t.location + "/"),
			InputFormat:  aws.String(parquetInputFormat),
			OutputFormat: aws.String(parquetOutputFormat),
			SerdeInfo: &types.SerDeInfo{
				SerializationLibrary: aws.String(parquetSerDe),
				Parameters:           map[string]string{"serialization.format": "1"},
			},
		},
	}
}

// tableGeneration reads GenerationParameter; ok is false on a table
// Tidemark did not write (which the sync then takes over).
func tableGeneration(t *types.Table) (uint64, bool) {
	if t == nil {
		return 0, false
	}
	g, err := strconv.ParseUint(t.Parameters[GenerationParameter], 10, 64)
	return g, err == nil
}

// sameDefinition reports whether have already is want. Parameters others
// add (Athena's transient_lastDdlTime, statistics) do not count; ours and
// the storage must match.
func sameDefinition(have *types.Table, want *types.TableInput) bool {
	if aws.ToString(have.TableType) != aws.ToString(want.TableType) || !sameColumns(have.PartitionKeys, want.PartitionKeys) {
		return false
	}
	for k, v := range want.Parameters {
		if hv, ok := have.Parameters[k]; !ok || hv != v {
			return false
		}
	}
	// A projection property we no longer set (a partition key dropped from
	// the spec) must go.
	for k := range have.Parameters {
		if _, ok := want.Parameters[k]; !ok && isOurParameter(k) {
			return false
		}
	}
	hs, ws := have.StorageDescriptor, want.StorageDescriptor
	if hs == nil || hs.SerdeInfo == nil {
		return false
	}
	return aws.ToString(hs.Location) == aws.ToString(ws.Location) &&
		aws.ToString(hs.InputFormat) == aws.ToString(ws.InputFormat) &&
		aws.ToString(hs.OutputFormat) == aws.ToString(ws.OutputFormat) &&
		aws.ToString(hs.SerdeInfo.SerializationLibrary) == aws.ToString(ws.SerdeInfo.SerializationLibrary) &&
		maps.Equal(hs.SerdeInfo.Parameters, ws.SerdeInfo.Parameters) &&
		sameColumns(hs.Columns, ws.Columns)
}

func isOurParameter(k string) bool {
	return k == "storage.location.template" || strings.HasPrefix(k, "projection.")
}

func sameColumns(a, b []types.Column) bool {
	return slices.EqualFunc(a, b, func(x, y types.Column) bool {
		return aws.ToString(x.Name) == aws.ToString(y.Name) && aws.ToString(x.Type) == aws.ToString(y.Type)
	})
}
