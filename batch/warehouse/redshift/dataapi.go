package redshift

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/redshiftdata"
	"github.com/aws/aws-sdk-go-v2/service/redshiftdata/types"
	"github.com/aws/smithy-go"
)

// DataAPIOptions address a cluster or Serverless workgroup through the
// Redshift Data API.
type DataAPIOptions struct {
	// WorkgroupName (Serverless) or ClusterIdentifier (provisioned).
	WorkgroupName     string
	ClusterIdentifier string
	Database          string
	// DBUser (provisioned, temporary credentials) or SecretARN; neither on
	// Serverless means the caller's IAM identity.
	DBUser    string
	SecretARN string
	// Region; "" takes the AWS config chain's.
	Region string
	// Endpoint overrides the service endpoint (a VPC endpoint, a stand-in).
	Endpoint string
	// AccessKeyID and SecretAccessKey, when both set, are static
	// credentials instead of the AWS chain.
	AccessKeyID, SecretAccessKey string
	// PollInterval is the first wait between two DescribeStatement calls,
	// growing by half up to MaxPoll; 0 means 100ms (MaxPoll 0: 2s).
	PollInterval, MaxPoll time.Duration
}

// DataAPI is an Executor over the Redshift Data API: ExecuteStatement and
// BatchExecuteStatement (one transaction, at most MaxBatchStatements
// statements), then DescribeStatement polled until the statement ends.
// Each call is its own session: nothing (no temporary table, no SET)
// survives from one call to the next.
type DataAPI struct {
	client *redshiftdata.Client
	o      DataAPIOptions
}

var _ Executor = (*DataAPI)(nil)

// NewDataAPI builds the client; it does not contact the service.
func NewDataAPI(ctx context.Context, o DataAPIOptions) (*DataAPI, error) {
	if (o.WorkgroupName == "") == (o.ClusterIdentifier == "") {
		return nil, errors.New("redshift data API: set workgroup_name or cluster_identifier (one)")
	}
	if o.Database == "" {
		return nil, errors.New("redshift data API: database is required")
	}
	var loads []func(*config.LoadOptions) error
	if o.Region != "" {
		loads = append(loads, config.WithRegion(o.Region))
	}
	if o.AccessKeyID != "" && o.SecretAccessKey != "" {
		loads = append(loads, config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(o.AccessKeyID, o.SecretAccessKey, "")))
	}
	cfg, err := config.LoadDefaultConfig(ctx, loads...)
	if err != nil {
		return nil, fmt.Errorf("redshift data API: loading AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	client := redshiftdata.NewFromConfig(cfg, func(ro *redshiftdata.Options) {
		if o.Endpoint != "" {
			ro.BaseEndpoint = aws.String(o.Endpoint)
		}
	})
	if o.PollInterval <= 0 {
		o.PollInterval = 100 * time.Millisecond
	}
	if o.MaxPoll <= 0 {
		o.MaxPoll = 2 * time.Second
	}
	return &DataAPI{client: client, o: o}, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// apiError wraps a failed API call: a client error (validation) is a
// statement error, everything else (network, throttling, 5xx, auth) makes
// the target unreachable.
func apiError(op string, err error) error {
	var ae smithy.APIError
	var ne net.Error
	switch {
	case errors.As(err, &ae) && ae.ErrorCode() == "ValidationException":
		return fmt.Errorf("redshift data API %s: %w: %w", op, ErrStatement, err)
	case errors.As(err, &ae), errors.As(err, &ne):
		return fmt.Errorf("redshift data API %s: %w: %w", op, ErrUnreachable, err)
	}
	return fmt.Errorf("redshift data API %s: %w: %w", op, ErrUnreachable, err)
}

func (d *DataAPI) Exec(ctx context.Context, sql string) (Result, error) {
	out, err := d.client.ExecuteStatement(ctx, &redshiftdata.ExecuteStatementInput{
		Sql: aws.String(sql), Database: aws.String(d.o.Database),
		WorkgroupName: optional(d.o.WorkgroupName), ClusterIdentifier: optional(d.o.ClusterIdentifier),
		DbUser: optional(d.o.DBUser), SecretArn: optional(d.o.SecretARN),
	})
	if err != nil {
		return Result{}, apiError("ExecuteStatement", err)
	}
	desc, err := d.wait(ctx, aws.ToString(out.Id))
	if err != nil {
		return Result{}, err
	}
	if desc.Status != types.StatusStringFinished {
		return Result{}, d.failure(ctx, sql, 0, aws.ToString(desc.Error), desc.RedshiftQueryId, string(desc.Status))
	}
	return Result{Rows: desc.ResultRows, QueryID: desc.RedshiftQueryId}, nil
}

func (d *DataAPI) Batch(ctx context.Context, sqls []string) ([]Result, error) {
	if len(sqls) == 0 {
		return nil, nil
	}
	if len(sqls) > MaxBatchStatements {
		return nil, fmt.Errorf("%w: a batch of %d statements, more than the Data API's %d", ErrStatement, len(sqls), MaxBatchStatements)
	}
	out, err := d.client.BatchExecuteStatement(ctx, &redshiftdata.BatchExecuteStatementInput{
		Sqls: sqls, Database: aws.String(d.o.Database),
		WorkgroupName: optional(d.o.WorkgroupName), ClusterIdentifier: optional(d.o.ClusterIdentifier),
		DbUser: optional(d.o.DBUser), SecretArn: optional(d.o.SecretARN),
	})
	if err != nil {
		return nil, apiError("BatchExecuteStatement", err)
	}
	desc, err := d.wait(ctx, aws.ToString(out.Id))
	if err != nil {
		return nil, err
	}
	if desc.Status != types.StatusStringFinished {
		// The failing sub-statement says which SQL and why; the batch's
		// Error repeats the message.
		for i, s := range desc.SubStatements {
			if s.Status == types.StatementStatusStringFailed {
				msg := aws.ToString(s.Error)
				if msg == "" {
					msg = aws.ToString(desc.Error)
				}
				return nil, d.failure(ctx, sqls[min(i, len(sqls)-1)], i, msg, s.RedshiftQueryId, string(desc.Status))
			}
		}
		return nil, d.failure(ctx, sqls[0], 0, aws.ToString(desc.Error), desc.RedshiftQueryId, string(desc.Status))
	}
	res := make([]Result, len(sqls))
	for i := range res {
		res[i] = Result{Rows: -1}
		if i < len(desc.SubStatements) {
			res[i] = Result{Rows: desc.SubStatements[i].ResultRows, QueryID: desc.SubStatements[i].RedshiftQueryId}
		}
	}
	return res, nil
}

// failure builds the StatementError of a failed statement, with the load
// errors of a COPY.
func (d *DataAPI) failure(ctx context.Context, sql string, index int, msg string, queryID int64, status string) error {
	if msg == "" {
		msg = "status " + status
	}
	e := &StatementError{SQL: sql, Index: index, Message: msg, QueryID: queryID, kind: kindOf("", msg)}
	if isCopy(sql) && queryID > 0 {
		e.LoadErrors = loadErrors(ctx, d, queryID)
	}
	return e
}

// wait polls DescribeStatement until the statement has ended.
func (d *DataAPI) wait(ctx context.Context, id string) (*redshiftdata.DescribeStatementOutput, error) {
	poll := d.o.PollInterval
	for {
		desc, err := d.client.DescribeStatement(ctx, &redshiftdata.DescribeStatementInput{Id: aws.String(id)})
		if err != nil {
			return nil, apiError("DescribeStatement", err)
		}
		switch desc.Status {
		case types.StatusStringFinished, types.StatusStringFailed, types.StatusStringAborted:
			return desc, nil
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			// The statement keeps running on the cluster; cancel it so a
			// cancelled load leaves nothing behind.
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_, _ = d.client.CancelStatement(cctx, &redshiftdata.CancelStatementInput{Id: aws.String(id)})
			cancel()
			return nil, ctx.Err()
		case <-t.C:
		}
		poll = min(poll*3/2, d.o.MaxPoll)
	}
}

func (d *DataAPI) Query(ctx context.Context, sql string) ([][]any, error) {
	out, err := d.client.ExecuteStatement(ctx, &redshiftdata.ExecuteStatementInput{
		Sql: aws.String(sql), Database: aws.String(d.o.Database),
		WorkgroupName: optional(d.o.WorkgroupName), ClusterIdentifier: optional(d.o.ClusterIdentifier),
		DbUser: optional(d.o.DBUser), SecretArn: optional(d.o.SecretARN),
	})
	if err != nil {
		return nil, apiError("ExecuteStatement", err)
	}
	id := aws.ToString(out.Id)
	desc, err := d.wait(ctx, id)
	if err != nil {
		return nil, err
	}
	if desc.Status != types.StatusStringFinished {
		return nil, &StatementError{SQL: sql, Message: aws.ToString(desc.Error), QueryID: desc.RedshiftQueryId, kind: kindOf("", aws.ToString(desc.Error))}
	}
	if !aws.ToBool(desc.HasResultSet) {
		return nil, nil
	}
	var rows [][]any
	var token *string
	for {
		res, err := d.client.GetStatementResult(ctx, &redshiftdata.GetStatementResultInput{Id: aws.String(id), NextToken: token})
		if err != nil {
			return nil, apiError("GetStatementResult", err)
		}
		for _, rec := range res.Records {
			row := make([]any, len(rec))
			for i, f := range rec {
				switch v := f.(type) {
				case *types.FieldMemberIsNull:
					row[i] = nil
				case *types.FieldMemberLongValue:
					row[i] = v.Value
				case *types.FieldMemberDoubleValue:
					row[i] = v.Value
				case *types.FieldMemberBooleanValue:
					row[i] = v.Value
				case *types.FieldMemberStringValue:
					row[i] = v.Value
				case *types.FieldMemberBlobValue:
					row[i] = v.Value
				default:
					return nil, fmt.Errorf("redshift data API: result of %q: unknown field type %T", abbreviate(sql, 80), f)
				}
			}
			rows = append(rows, row)
		}
		if res.NextToken == nil || *res.NextToken == "" {
			return rows, nil
		}
		token = res.NextToken
	}
}

// Close releases nothing: the client holds no connections of its own.
func (d *DataAPI) Close() {}
