package main
import (
 _ "github.com/go-mysql-org/go-mysql/replication"
 _ "github.com/go-mysql-org/go-mysql/client"
 _ "github.com/redis/go-redis/v9"
 _ "github.com/robfig/cron/v3"
 _ "github.com/parquet-go/parquet-go"
 _ "github.com/apache/arrow/go/v15/arrow"
 _ "github.com/aws/aws-sdk-go-v2/service/s3"
 _ "github.com/aws/aws-sdk-go-v2/config"
 _ "github.com/prometheus/client_golang/prometheus"
 _ "gopkg.in/yaml.v3"
 _ "github.com/go-sql-driver/mysql"
 _ "golang.org/x/sync/errgroup"
 _ "github.com/jackc/pgx/v5"
)
func main(){}
