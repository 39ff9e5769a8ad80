package athena

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/glue"
	"github.com/aws/aws-sdk-go-v2/service/glue/types"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/internal/gluefake"
)

const (
	testKey    = "AKIDTIDEMARKTEST"
	testSecret = "tidemark-glue-secret"
)

// newGlue starts a fake catalog that verifies signatures and returns a Sync
// of database "lake" over a real SDK client pointed at it.
func newGlue(t *testing.T, maxAttempts int) (*gluefake.Server, *Sync, *SyncMetrics) {
	t.Helper()
	fake := gluefake.New(gluefake.Options{AccessKeyID: testKey, SecretAccessKey: testSecret})
	t.Cleanup(fake.Close)
	client, err := NewClient(context.Background(), ClientOptions{
		Region: "eu-west-1", Endpoint: fake.URL, AccessKeyID: testKey, SecretAccessKey: testSecret, MaxAttempts: maxAttempts,
	})
	if err != nil {
		t.Fatal(err)
	}
	m := NewSyncMetrics(prometheus.NewRegistry())
	s, err := NewSync(client, SyncOptions{Options: Options{Database: "lake", Root: "s3://bucket/tm/"}, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	return fake, s, m
}

func actions(cs []Change) map[string]Action {
	m := map[string]Action{}
	for _, c := range cs {
		m[c.Table] = c.Action
	}
	return m
}

func TestGlueSyncCreatesTables(t *testing.T) {
	fake, s, m := newGlue(t, 1)
	ctx := context.Background()
	changes, err := s.Sync(ctx, testGeneration(4))
	if err != nil {
		t.Fatal(err)
	}
	if a := actions(changes); len(a) != 3 || a["shop_orders"] != Created || a["shop_customers"] != Created || a["view_revenue_by_day"] != Created {
		t.Fatalf("changes: %+v", changes)
	}
	if !fake.HasDatabase("lake") {
		t.Fatal("database lake not created")
	}
	orders, ok := fake.Table("lake", "shop_orders")
	if !ok {
		t.Fatal("no table shop_orders")
	}
	sd := orders.StorageDescriptor
	if sd.Location != "s3://bucket/tm/tables/shop/orders/gen=4/" || orders.TableType != "EXTERNAL_TABLE" ||
		sd.SerdeInfo.SerializationLibrary != parquetSerDe || sd.InputFormat != parquetInputFormat {
		t.Errorf("orders storage: %+v (type %s)", sd, orders.TableType)
	}
	// The columns and the properties are the DDL's: one type map, one
	// projection.
	ddl, err := CreateDDL(testGeneration(4), Options{Database: "lake", Root: "s3://bucket/tm/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range sd.Columns {
		if want := "`" + c.Name + "` " + c.Type; !strings.Contains(ddl[1], want) {
			t.Errorf("column %s %s is not the DDL's (%q not in it)", c.Name, c.Type, want)
		}
	}
	if len(sd.Columns) != 6 || sd.Columns[5].Type != "decimal(20,0)" {
		t.Errorf("columns: %+v", sd.Columns)
	}
	for k, v := range orders.Parameters {
		if k != "EXTERNAL" && !strings.Contains(ddl[1], "'"+k+"'='"+v+"'") {
			t.Errorf("parameter %s=%s is not in the DDL's TBLPROPERTIES", k, v)
		}
	}
	if orders.Parameters["storage.location.template"] != "s3://bucket/tm/tables/shop/orders/gen=4/dt=${dt}/status_part=${status_part}/qty_trunc=${qty_trunc}/" ||
		orders.Parameters[GenerationParameter] != "4" || orders.Parameters["projection.dt.range"] != "2024-04-30,2024-05-03" {
		t.Errorf("parameters: %v", orders.Parameters)
	}
	if len(orders.PartitionKeys) != 3 || orders.PartitionKeys[0] != (gluefake.Column{Name: "dt", Type: "string"}) {
		t.Errorf("partition keys: %+v", orders.PartitionKeys)
	}
	if v, _ := fake.Table("lake", "view_revenue_by_day"); v.StorageDescriptor.Location != "s3://bucket/tm/views/revenue_by_day/gen=4/" || len(v.PartitionKeys) != 0 {
		t.Errorf("view table: %+v", v)
	}
	if fake.Refused() != 0 {
		t.Errorf("%d requests refused for their signature", fake.Refused())
	}
	if got := value(m.Generation); got != 4 {
		t.Errorf("tidemark_glue_generation = %v, want 4", got)
	}
}

func TestGlueSyncMovesForwardOnly(t *testing.T) {
	fake, s, m := newGlue(t, 1)
	ctx := context.Background()
	if _, err := s.Sync(ctx, testGeneration(4)); err != nil {
		t.Fatal(err)
	}
	// A newer generation moves every table.
	g5 := testGeneration(5)
	g5.Tables[0].Files = g5.Tables[0].Files[:1] // fewer partitions: the projection must follow
	changes, err := s.Sync(ctx, g5)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.Action != Updated || c.Generation != 5 {
			t.Errorf("moving to 5: %+v", c)
		}
	}
	orders, _ := fake.Table("lake", "shop_orders")
	if orders.StorageDescriptor.Location != "s3://bucket/tm/tables/shop/orders/gen=5/" || orders.Parameters[GenerationParameter] != "5" ||
		orders.Parameters["projection.dt.range"] != "2024-05-03,2024-05-03" {
		t.Errorf("after moving to 5: %s %v", orders.StorageDescriptor.Location, orders.Parameters)
	}
	// Rerunning the same generation writes nothing.
	updates := fake.Calls("UpdateTable")
	changes, err = s.Sync(ctx, g5)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.Action != Unchanged {
			t.Errorf("rerun of 5: %+v", c)
		}
	}
	if n := fake.Calls("UpdateTable") - updates; n != 0 {
		t.Errorf("an idempotent rerun made %d UpdateTable calls", n)
	}
	// An older generation (a slow writer, a manual sync of an old lake)
	// never moves a table back.
	changes, err = s.Sync(ctx, testGeneration(3))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.Action != Newer || c.Generation != 5 {
			t.Errorf("sync of 3 after 5: %+v", c)
		}
	}
	if o, _ := fake.Table("lake", "shop_orders"); o.StorageDescriptor.Location != "s3://bucket/tm/tables/shop/orders/gen=5/" {
		t.Errorf("moved back to %s", o.StorageDescriptor.Location)
	}
	if got := value(m.Generation); got != 5 {
		t.Errorf("tidemark_glue_generation after a sync of 3 = %v, want 5", got)
	}
	// A table at its generation but edited by hand is restored.
	if _, err := s.cat.UpdateTable(ctx, &glue.UpdateTableInput{DatabaseName: aws.String("lake"), TableInput: &types.TableInput{
		Name: aws.String("shop_customers"), Parameters: map[string]string{GenerationParameter: "5"},
		StorageDescriptor: &types.StorageDescriptor{Location: aws.String("s3://elsewhere/")},
	}}); err != nil {
		t.Fatal(err)
	}
	changes, err = s.Sync(ctx, g5)
	if err != nil {
		t.Fatal(err)
	}
	if a := actions(changes); a["shop_customers"] != Updated || a["shop_orders"] != Unchanged {
		t.Errorf("repairing an edited table: %+v", changes)
	}
	if c, _ := fake.Table("lake", "shop_customers"); c.StorageDescriptor.Location != "s3://bucket/tm/tables/shop/customers/gen=5/" {
		t.Errorf("edited table not restored: %s", c.StorageDescriptor.Location)
	}
	if got := value(m.Failures); got != 0 {
		t.Errorf("failures = %v", got)
	}
}

func TestGlueSyncFailureIsCountedAndReturned(t *testing.T) {
	fake, s, m := newGlue(t, 1)
	ctx := context.Background()
	if err := s.Check(ctx); err != nil {
		t.Errorf("check of a missing database: %v", err)
	}
	fake.Fail("GetDatabase")
	if err := s.Check(ctx); err == nil {
		t.Error("check of a failing catalog passed")
	}
	fake.Fail("CreateTable")
	_, err := s.Sync(ctx, testGeneration(1))
	var ise *types.InternalServiceException
	if err == nil || !errors.As(err, &ise) || !strings.Contains(err.Error(), "syncing Glue database lake to generation 1") {
		t.Fatalf("sync against a failing catalog: %v", err)
	}
	if value(m.Failures) != 1 || value(m.Syncs) != 1 || value(m.Generation) != 0 {
		t.Errorf("metrics after a failure: failures %v syncs %v generation %v",
			value(m.Failures), value(m.Syncs), value(m.Generation))
	}
	// The next sync catches up.
	fake.Fail()
	changes, err := s.Sync(ctx, testGeneration(2))
	if err != nil {
		t.Fatal(err)
	}
	if a := actions(changes); a["shop_orders"] != Created {
		t.Errorf("after recovery: %+v", changes)
	}
	if value(m.Failures) != 1 || value(m.Generation) != 2 {
		t.Errorf("metrics after recovery: failures %v generation %v", value(m.Failures), value(m.Generation))
	}
}

func TestGlueSyncRetriesTransientErrors(t *testing.T) {
	fake, s, _ := newGlue(t, 3)
	// The SDK retries a 500 within its attempts; a catalog failing for
	// good exhausts them and the sync reports the error.
	fake.Fail("*")
	if _, err := s.Sync(context.Background(), testGeneration(1)); err == nil {
		t.Fatal("sync against a catalog failing every request succeeded")
	}
	if n := fake.Calls("GetDatabase"); n != 3 {
		t.Errorf("GetDatabase attempted %d times, want 3 (max attempts)", n)
	}
}

func TestGlueFakeRefusesUnsignedAndWrongKeys(t *testing.T) {
	fake := gluefake.New(gluefake.Options{AccessKeyID: testKey, SecretAccessKey: testSecret})
	defer fake.Close()
	req, _ := http.NewRequest(http.MethodPost, fake.URL, strings.NewReader(`{"Name":"lake"}`))
	req.Header.Set("X-Amz-Target", "AWSGlue.GetDatabase")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Amzn-ErrorType") != "MissingAuthenticationTokenException" {
		t.Errorf("unsigned request: %d %s", resp.StatusCode, resp.Header.Get("X-Amzn-ErrorType"))
	}
	ctx := context.Background()
	for _, o := range []ClientOptions{
		{AccessKeyID: testKey, SecretAccessKey: "wrong"},
		{AccessKeyID: "AKIDOTHER", SecretAccessKey: testSecret},
	} {
		o.Endpoint, o.Region, o.MaxAttempts = fake.URL, "us-east-1", 1
		client, err := NewClient(ctx, o)
		if err != nil {
			t.Fatal(err)
		}
		_, err = client.GetDatabase(ctx, &glue.GetDatabaseInput{Name: aws.String("lake")})
		if err == nil || !strings.Contains(err.Error(), "Exception") {
			t.Errorf("%s/%s: %v", o.AccessKeyID, o.SecretAccessKey, err)
		}
	}
	if fake.Refused() != 3 {
		t.Errorf("refused %d requests, want 3", fake.Refused())
	}
}

func TestNewSyncRefusesFileLake(t *testing.T) {
	if _, err := NewSync(nil, SyncOptions{Options: Options{Root: "file:///var/lake"}}); err == nil || !strings.Contains(err.Error(), "S3 only") {
		t.Errorf("file lake: %v", err)
	}
}

// value reads a counter's or gauge's current value.
func value(c prometheus.Collector) float64 {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 {
		panic(fmt.Sprint(len(mfs), err))
	}
	m := mfs[0].GetMetric()[0]
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

// racingCatalog lets another writer move a table to a newer generation
// between the sync's GetTable and its first UpdateTable.
type racingCatalog struct {
	Catalog
	raced bool
	other *Sync
	newer *batch.Generation
}

func (r *racingCatalog) UpdateTable(ctx context.Context, in *glue.UpdateTableInput, optFns ...func(*glue.Options)) (*glue.UpdateTableOutput, error) {
	if !r.raced {
		r.raced = true
		if _, err := r.other.Sync(ctx, r.newer); err != nil {
			return nil, err
		}
	}
	return r.Catalog.UpdateTable(ctx, in, optFns...)
}

func TestGlueSyncLosesRaceToNewerWriter(t *testing.T) {
	fake, s, _ := newGlue(t, 1)
	ctx := context.Background()
	if _, err := s.Sync(ctx, testGeneration(4)); err != nil {
		t.Fatal(err)
	}
	race := &racingCatalog{Catalog: s.cat, other: s, newer: testGeneration(9)}
	slow, err := NewSync(race, s.o)
	if err != nil {
		t.Fatal(err)
	}
	changes, err := slow.Sync(ctx, testGeneration(5))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range changes {
		if c.Action != Newer || c.Generation != 9 {
			t.Errorf("slow writer of 5 after a racing 9: %+v", c)
		}
	}
	for _, n := range []string{"shop_orders", "shop_customers", "view_revenue_by_day"} {
		if tb, _ := fake.Table("lake", n); tb.Parameters[GenerationParameter] != "9" {
			t.Errorf("%s left at generation %s, want 9", n, tb.Parameters[GenerationParameter])
		}
	}
}
