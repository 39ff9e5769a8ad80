package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/batch/warehouse/redshift"
	"github.com/tidemark/tidemark/internal/config"
)

// newRedshiftLoader builds a Redshift target's loader from its config:
// the Data API (data_api) or the wire protocol (dsn). It does not connect.
func (a *app) newRedshiftLoader(w *config.Warehouse, st lake.Store) (warehouse.Loader, error) {
	if st == nil && strings.HasPrefix(a.cfg.Lake.Root, "s3://") {
		// validate passes no lake; Check's COPY test writes a file to it.
		var err error
		if st, err = a.openLake(context.Background()); err != nil {
			return nil, fmt.Errorf("warehouse target %s: %w", w.Name, err)
		}
	}
	var exec redshift.Executor
	if d := &w.DataAPI; d.IsSet() {
		o := redshift.DataAPIOptions{WorkgroupName: d.WorkgroupName, ClusterIdentifier: d.ClusterIdentifier, Database: d.Database,
			DBUser: d.DBUser, SecretARN: d.SecretARN, Region: d.Region, Endpoint: d.Endpoint,
			AccessKeyID: d.AccessKeyID, SecretAccessKey: string(d.SecretAccessKey)}
		if o.Region == "" {
			o.Region = a.cfg.Lake.S3.Region
		}
		if o.AccessKeyID == "" && a.cfg.Lake.S3.AccessKeyID != "" {
			o.AccessKeyID, o.SecretAccessKey = a.cfg.Lake.S3.AccessKeyID, string(a.cfg.Lake.S3.SecretAccessKey)
		}
		api, err := redshift.NewDataAPI(context.Background(), o)
		if err != nil {
			return nil, fmt.Errorf("warehouse target %s: %w", w.Name, err)
		}
		exec = api
	} else {
		d, err := redshift.OpenDSN(context.Background(), w.PostgresDSN())
		if err != nil {
			return nil, fmt.Errorf("warehouse target %s: %w", w.Name, err)
		}
		exec = d
	}
	keys := map[string]redshift.Keys{}
	for _, k := range w.TableKeys {
		keys[k.Table] = redshift.Keys{SortKeys: k.SortKeys, DistKey: k.DistKey}
	}
	o := redshift.Options{Exec: exec, Target: w.Name, Schema: w.SchemaName(), Store: st, LakeRoot: a.cfg.Lake.Root,
		IAMRole: w.IAMRole, Keys: keys}
	if point := os.Getenv(warehouseKillEnv); point != "" {
		o.Hook = func(p string) {
			if p == point {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}
	}
	return redshift.New(o)
}
