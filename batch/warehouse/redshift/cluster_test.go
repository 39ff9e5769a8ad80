package redshift

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/warehouse"
)

// TestRealCluster loads an all-types generation into a real Redshift
// (Serverless or provisioned) through the Data API, the only proof of
// COPY's type rules beyond the stand-in. It runs when these are set:
//
//	TIDEMARK_TEST_REDSHIFT_WORKGROUP or TIDEMARK_TEST_REDSHIFT_CLUSTER
//	TIDEMARK_TEST_REDSHIFT_DATABASE     (e.g. dev)
//	TIDEMARK_TEST_REDSHIFT_DB_USER or TIDEMARK_TEST_REDSHIFT_SECRET_ARN (provisioned)
//	TIDEMARK_TEST_REDSHIFT_REGION
//	TIDEMARK_TEST_REDSHIFT_IAM_ROLE     (a role COPY may assume, reading the bucket)
//	TIDEMARK_TEST_REDSHIFT_LAKE         (s3://bucket/prefix in the cluster's region)
//
// with AWS credentials in the standard chain. It writes under the lake
// prefix and a schema tidemark_test_<time>, and drops both.
func TestRealCluster(t *testing.T) {
	env := func(k string) string { return os.Getenv("TIDEMARK_TEST_REDSHIFT_" + k) }
	o := DataAPIOptions{WorkgroupName: env("WORKGROUP"), ClusterIdentifier: env("CLUSTER"), Database: env("DATABASE"),
		DBUser: env("DB_USER"), SecretARN: env("SECRET_ARN"), Region: env("REGION")}
	root, role := env("LAKE"), env("IAM_ROLE")
	if (o.WorkgroupName == "" && o.ClusterIdentifier == "") || o.Database == "" || root == "" || role == "" {
		t.Skip("no Redshift cluster: set TIDEMARK_TEST_REDSHIFT_{WORKGROUP|CLUSTER,DATABASE,REGION,IAM_ROLE,LAKE} (and DB_USER or SECRET_ARN for a provisioned cluster) to run against one")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	u, err := url.Parse(root)
	if err != nil || u.Scheme != "s3" {
		t.Fatalf("TIDEMARK_TEST_REDSHIFT_LAKE=%q: want s3://bucket/prefix", root)
	}
	prefix := strings.Trim(u.Path, "/")
	run := fmt.Sprintf("tidemark_test_%d", time.Now().Unix())
	prefix = strings.TrimPrefix(prefix+"/"+run, "/")
	store, err := lake.OpenS3(ctx, u.Host, prefix, lake.S3Options{Region: o.Region})
	if err != nil {
		t.Fatal(err)
	}
	api, err := NewDataAPI(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(Options{Exec: api, Target: "test", Schema: run, Store: store, LakeRoot: "s3://" + u.Host + "/" + prefix, IAMRole: role})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		for _, s := range []string{run + "_gen", run} {
			if _, err := api.Exec(cctx, "DROP SCHEMA IF EXISTS "+quoteIdent(s)+" CASCADE"); err != nil {
				t.Logf("dropping schema %s: %v", s, err)
			}
		}
		objs, _ := store.List(cctx, "")
		var keys []string
		for _, ob := range objs {
			keys = append(keys, ob.Key)
		}
		_ = store.Delete(cctx, keys...)
	})
	if errs := l.Check(ctx); len(errs) > 0 {
		t.Fatalf("Check: %v", errs)
	}
	cols := allTypesColumns(t)
	rows := allTypesRows(t, cols, 1, 300, 1)
	g := &warehouse.Generation{Number: 1, Cut: "mariadb-bin.000001:4:0", CutTime: time.Now().UTC().Truncate(time.Second)}
	g.Tables = append(g.Tables, writeTable(t, store, "shop.alltypes", warehouse.KindTable, cols, cols, []int{0}, rows, "tables/shop/alltypes/gen=1"))
	if _, err := l.Prepare(ctx, g); err != nil {
		t.Fatal(err)
	}
	if swapped, err := l.Swap(ctx, g, 0); err != nil || !swapped {
		t.Fatalf("Swap: %t, %v", swapped, err)
	}
	got, err := api.Query(ctx, fmt.Sprintf("SELECT COUNT(*), COUNT(%s), SUM(%s) FROM %s", quoteIdent("biu"), quoteIdent("bi"), qualified(run, "shop_alltypes")))
	if err != nil {
		t.Fatal(err)
	}
	var nonNull int64
	for _, r := range rows {
		if r[10] != nil {
			nonNull++
		}
	}
	if asInt(got[0][0]) != int64(len(rows)) || asInt(got[0][1]) != nonNull {
		t.Fatalf("Redshift holds %v rows / non-null biu, want %d / %d", got[0], len(rows), nonNull)
	}
	if cur, err := l.Current(ctx); err != nil || cur.Generation != 1 {
		t.Fatalf("Current: %+v, %v", cur, err)
	}
}
