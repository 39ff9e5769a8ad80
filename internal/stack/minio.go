package stack

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// MinIOServer is a running throwaway MinIO on one local drive with one bucket created.
// Objects survive Stop and Start (they are files in DataDir).
type MinIOServer struct {
	Endpoint  string // "http://127.0.0.1:PORT"
	Port      int    // the S3 API; the console is on Port+1
	Region    string // "us-east-1"
	AccessKey string
	SecretKey string
	Bucket    string // "lake", created
	DataDir   string
	Pid       int // 0 while stopped

	proc *proc
}

// MinIO starts a new MinIO with the bucket "lake" (see the package doc); t.Cleanup stops it.
func MinIO(t testing.TB) *MinIOServer {
	t.Helper()
	require(t, "minio", "minio", "curl")
	m := &MinIOServer{Region: "us-east-1", AccessKey: "tidemark", SecretKey: "tidemark-secret", Bucket: "lake"}
	env := []string{
		"MINIO_ROOT_USER=" + m.AccessKey, "MINIO_ROOT_PASSWORD=" + m.SecretKey,
		// The Go side creates the bucket: the script would use the aws CLI, which may be
		// missing and takes a second to start.
		"MINIO_BUCKET=",
	}
	p := startServer(t, "minio.sh", "minio", env, []int{0, 1}, 0)
	m.proc, m.Port, m.Pid = p, p.port, p.pid(t)
	m.Endpoint = fmt.Sprintf("http://127.0.0.1:%d", p.port)
	m.DataDir = filepath.Join(p.dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := m.newClient().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(m.Bucket)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		t.Fatalf("stack: creating bucket %s on MinIO at %s: %v", m.Bucket, m.Endpoint, err)
	}
	return m
}

// Client returns an S3 client of the server (path-style addressing, static credentials).
func (m *MinIOServer) Client() *s3.Client { return m.newClient() }

func (m *MinIOServer) newClient() *s3.Client {
	return s3.New(s3.Options{
		Region:       m.Region,
		BaseEndpoint: aws.String(m.Endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(m.AccessKey, m.SecretKey, ""),
	})
}

// Stop shuts the server down (SIGTERM) and waits for it to exit.
func (m *MinIOServer) Stop(t testing.TB) {
	t.Helper()
	if err := m.proc.stop(); err != nil {
		t.Fatalf("stack: stopping MinIO: %v", err)
	}
	m.Pid = 0
}

// Kill kills the server with SIGKILL.
func (m *MinIOServer) Kill(t testing.TB) {
	t.Helper()
	if err := m.proc.kill(); err != nil {
		t.Fatalf("stack: killing MinIO: %v", err)
	}
	m.Pid = 0
}

// Start starts the stopped server again on the same port and data, and returns once it
// answers.
func (m *MinIOServer) Start(t testing.TB) {
	t.Helper()
	if err := m.proc.start(); err != nil {
		t.Fatalf("stack: restarting MinIO: %v", err)
	}
	m.Pid = m.proc.pid(t)
}

// Restart stops the server and starts it again on the same port and data.
func (m *MinIOServer) Restart(t testing.TB) {
	t.Helper()
	m.Stop(t)
	m.Start(t)
}
